"""Fan-out of offers and assignments to the streams watching them."""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass
from typing import Any

from cim_router.tenant.errors import ResourceExhausted
from cim_router.tenant.records import InteractionRecord

# A watcher this far behind is cut off rather than let it hold memory without bound.
MAX_BACKLOG = 10_000


class NoticeType(enum.IntEnum):
    """The values match the wire enum AssignmentEventType."""

    OFFERED = 1
    ASSIGNED = 2
    OFFER_ENDED = 3
    RELEASED = 4


@dataclass(frozen=True)
class Notice:
    type: NoticeType
    agent_id: str
    record: InteractionRecord
    at: float


class Watcher:
    """One subscriber: the agents it follows (None for all) and its pending notices."""

    def __init__(self, agent_ids: frozenset[str] | None, kind: str = "WatchAssignments") -> None:
        self.agent_ids = agent_ids
        self.kind = kind
        self.queue: asyncio.Queue[Notice | None] = asyncio.Queue()
        self.closed = False
        # Set when the tenant's changes became durable (WatchEvents reads the stream then).
        self.wake = asyncio.Event()

    def wants(self, agent_id: str) -> bool:
        return self.agent_ids is None or agent_id in self.agent_ids

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(None)
            self.wake.set()

    async def next(self, timeout: float | None = None) -> Notice | None:
        """The next notice; None once closed or when `timeout` passes first."""
        if self.closed and self.queue.empty():
            return None
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except asyncio.TimeoutError:
            return None


class Hub:
    """The watchers of one tenant, counted by kind (the RPC: WatchAssignments streams,
    Assign calls waiting for work) so that each kind can be capped."""

    def __init__(self) -> None:
        self._watchers: set[Watcher] = set()
        self._counts: dict[str, int] = {}
        self.woken_at = 0  # the submission WatchEvents streams were last woken for
        self.pokes = 0  # how many times they were woken
        # WatchEvents' reads in flight, by (cursor, pokes when it began): streams at one
        # cursor share one (tenant/event_stream.py).
        self.event_reads: dict[tuple[str, int], asyncio.Future[Any]] = {}

    def __len__(self) -> int:
        return len(self._watchers)

    def count(self, kind: str) -> int:
        return self._counts.get(kind, 0)

    def subscribe(
        self,
        agent_ids: frozenset[str] | None,
        kind: str = "WatchAssignments",
        limit: int | None = None,
    ) -> Watcher:
        """A new watcher; ResourceExhausted once `limit` watchers of `kind` are open."""
        if limit is not None and self.count(kind) >= limit:
            raise ResourceExhausted(f"too many open {kind} calls for this tenant (at most {limit})")
        w = Watcher(agent_ids, kind)
        self._watchers.add(w)
        self._counts[kind] = self.count(kind) + 1
        return w

    def unsubscribe(self, w: Watcher) -> None:
        if w in self._watchers:
            self._watchers.discard(w)
            self._counts[w.kind] -= 1
        w.close()

    def wants(self, agent_id: str) -> bool:
        """Whether any open watcher follows `agent_id`."""
        return any(w.wants(agent_id) and not w.closed for w in self._watchers)

    def deliver(self, notice: Notice) -> None:
        for w in [w for w in self._watchers if w.wants(notice.agent_id) and not w.closed]:
            if w.queue.qsize() >= MAX_BACKLOG:
                self.unsubscribe(w)
            else:
                w.queue.put_nowait(notice)

    def poke(self, kind: str) -> None:
        """Wake every watcher of `kind`: the tenant's latest changes are durable."""
        self.pokes += 1
        if self.count(kind):
            for w in self._watchers:
                if w.kind == kind:
                    w.wake.set()

    def close_all(self) -> None:
        for w in list(self._watchers):
            self.unsubscribe(w)
