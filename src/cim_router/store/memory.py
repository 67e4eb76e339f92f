"""The store in memory: the same contract as the Redis store (one test suite holds both to
it), for the tenant's own tests and for simulation, with no Redis and no waiting.

A submission is applied at once, as one atomic step, and is durable from then on; the
listeners hear of it on the next turn of the event loop, as they would from the Redis
store's flusher. What is stored are copies, so the router's later changes to its live
records never reach the stored ones. Faults are injected by hand: `go_down`, `come_back`
and `take_over`.
"""

from __future__ import annotations

import asyncio
import bisect
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field

from cim_router.domain.interaction import InteractionState
from cim_router.domain.queues import Queue
from cim_router.tenant import stream_ids
from cim_router.tenant.errors import Unavailable
from cim_router.tenant.ports import (
    NO_METRICS,
    CustomerFootprint,
    CustomerView,
    Erasable,
    Snapshot,
    StoreListener,
    StoreMetrics,
    StreamEntry,
    StreamPage,
)
from cim_router.tenant.records import (
    AgentRecord,
    CustomerRecord,
    Erasure,
    Event,
    InteractionRecord,
    RequestOutcome,
    Transition,
)
from cim_router.tenant.tallies import KEEP_BUCKETS

CLOSED = (InteractionState.COMPLETED, InteractionState.CANCELLED)
STREAM_LENGTH = 100_000  # events kept per tenant, as the Redis stream's MAXLEN
HISTORY_LENGTH = 1000  # events kept per interaction, the newest, as the Redis store


@dataclass
class TenantData:
    """What the store holds of one tenant."""

    agents: dict[str, AgentRecord] = field(default_factory=dict)
    queues: dict[str, Queue] = field(default_factory=dict)
    interactions: dict[str, InteractionRecord] = field(default_factory=dict)
    open: set[str] = field(default_factory=set)
    history: dict[str, list[Event]] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    customers: dict[str, CustomerRecord] = field(default_factory=dict)
    requests: dict[str, RequestOutcome] = field(default_factory=dict)
    quarantine: set[str] = field(default_factory=set)
    # The event stream: (entry number N, event); the entry's id is "0-N" (stream_ids.py).
    events: deque[tuple[int, Event]] = field(default_factory=lambda: deque(maxlen=STREAM_LENGTH))
    # The customer index: customer id -> their interactions' ids.
    customer_interactions: dict[str, set[str]] = field(default_factory=dict)
    # The measures' tallies: minute bucket -> field name -> count.
    tallies: dict[int, dict[str, float]] = field(default_factory=dict)


def _expire_tallies(tallies: dict[int, dict[str, float]], newest: int) -> None:
    """Buckets older than the Redis store's TTL go, as they expire there."""
    if len(tallies) > KEEP_BUCKETS:
        for bucket in [b for b in tallies if b < newest - KEEP_BUCKETS]:
            del tallies[bucket]


class MemoryStore:
    """A `Store` that keeps everything in this process."""

    def __init__(
        self,
        metrics: StoreMetrics | None = None,
        keep_closed: bool = True,
        stream_length: int = STREAM_LENGTH,
    ) -> None:
        self.metrics: StoreMetrics = metrics or NO_METRICS
        self.keep_closed = keep_closed  # False: closed interactions are dropped (simulation)
        self.stream_length = stream_length  # entries kept per tenant, the oldest dropped
        self._data: dict[str, TenantData] = {}
        self._tenant_set: set[str] = set()
        self._listeners: list[StoreListener] = []
        self._healthy = False
        self._fenced = False
        self._seq = 0
        self._lost: set[int] = set()  # submissions refused by a create guard
        self._entries = 0  # the last event stream entry's number, across tenants

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        return self._healthy

    @property
    def fenced(self) -> bool:
        return self._fenced

    def listen(self, listener: StoreListener) -> None:
        self._listeners.append(listener)

    async def start(self) -> None:
        self._healthy = True

    async def close(self) -> None:
        self._healthy = False

    # --- faults ---------------------------------------------------------------------------

    def go_down(self) -> None:
        """The store becomes unreachable: every write so far was applied, but the
        listeners must reload before serving, as after a real outage."""
        if self._healthy:
            self._healthy = False
            for listener in self._listeners:
                listener.on_lost()

    def come_back(self) -> None:
        if not self._healthy and not self._fenced:
            self._healthy = True
            for listener in self._listeners:
                listener.on_recovered()

    def take_over(self) -> None:
        """Another server has taken the store: this one may never write again."""
        self._fenced = True
        self.go_down()
        for listener in self._listeners:
            listener.on_fenced()

    # --- reads ----------------------------------------------------------------------------

    def _check(self) -> None:
        if not self._healthy:
            raise Unavailable("store unavailable")

    async def _turn(self) -> None:
        """A read gives the event loop a turn, as a round trip to a real store does: what
        the caller read may be stale by the time it resumes."""
        self._check()
        await asyncio.sleep(0)

    def _tenant(self, tenant: str) -> TenantData:
        found = self._data.get(tenant)
        if found is None:
            found = self._data[tenant] = TenantData()
            if self.stream_length != STREAM_LENGTH:
                found.events = deque(maxlen=self.stream_length)
        return found

    async def tenants(self) -> list[str]:
        self._check()
        return sorted(self._tenant_set)

    async def load(self, tenant: str) -> Snapshot:
        self._check()
        t = self._tenant(tenant)
        return Snapshot(
            agents=[a.snapshot() for a in t.agents.values()],
            interactions=[t.interactions[i].snapshot() for i in t.open],
            counters=dict(t.counters),
            queues=[t.queues[q] for q in sorted(t.queues)],
            known=tenant in self._tenant_set,
        )

    async def read_interaction(self, tenant: str, interaction_id: str) -> InteractionRecord | None:
        self._check()
        found = self._tenant(tenant).interactions.get(interaction_id)
        return None if found is None else found.snapshot()

    async def read_history(self, tenant: str, interaction_id: str) -> list[Event]:
        self._check()
        return list(self._tenant(tenant).history.get(interaction_id, ()))

    async def read_request(self, tenant: str, request_id: str) -> RequestOutcome | None:
        self._check()
        return self._tenant(tenant).requests.get(request_id)

    async def read_existing(
        self, tenant: str, interaction_id: str, customer_id: str
    ) -> tuple[InteractionRecord | None, CustomerRecord | None]:
        await self._turn()
        rec = await self.read_interaction(tenant, interaction_id)
        customer = self._tenant(tenant).customers.get(customer_id) if customer_id else None
        return rec, customer

    async def read_customer(self, tenant: str, customer_id: str) -> CustomerFootprint:
        await self._turn()
        data = self._tenant(tenant)
        ids = tuple(sorted(data.customer_interactions.get(customer_id, ())))
        return CustomerFootprint(customer_id in data.customers or bool(ids), ids)

    async def read_tallies(self, tenant: str, first: int, last: int) -> dict[int, dict[str, float]]:
        await self._turn()
        stored = self._tenant(tenant).tallies
        return {b: dict(stored[b]) for b in range(first, last + 1) if stored.get(b)}

    async def read_erasable(self, tenant: str, interaction_ids: Collection[str]) -> Erasable:
        await self._turn()
        data, wanted = self._tenant(tenant), set(interaction_ids)
        if not wanted:
            return Erasable()
        history = sum(len(data.history.get(iid, ())) for iid in wanted)
        found = tuple(_entry_id(n) for n, e in data.events if e.interaction_id in wanted)
        last = _entry_id(data.events[-1][0]) if data.events else ""
        return Erasable(history, found, last)

    async def read_events(self, tenant: str, after: str, count: int) -> StreamPage:
        await self._turn()
        events = self._tenant(tenant).events
        if not events:
            return StreamPage()
        # Entry numbers only grow: the first entry after `after` by bisection.
        at = bisect.bisect_right(events, stream_ids.parse(after), key=lambda e: (0, e[0]))
        entries = [
            StreamEntry(_entry_id(events[i][0]), events[i][1])
            for i in range(at, min(at + count, len(events)))
        ]
        scanned = entries[-1].id if entries else ""
        first, last = _entry_id(events[0][0]), _entry_id(events[-1][0])
        return StreamPage(tuple(entries), scanned, first, last, len(entries))

    async def read_customer_view(self, tenant: str, customer_id: str) -> CustomerView:
        await self._turn()
        data = self._tenant(tenant)
        found = []
        for iid in sorted(data.customer_interactions.get(customer_id, ())):
            rec = data.interactions.get(iid)
            if rec is not None and rec.interaction.customer_id == customer_id:
                found.append(rec.snapshot())
        return CustomerView(data.customers.get(customer_id), tuple(found))

    def data(self, tenant: str) -> TenantData:
        """The records held for `tenant` themselves (not copies): for inspection, and for
        tests that damage them as a faulty writer would."""
        return self._tenant(tenant)

    def events(self, tenant: str) -> list[Event]:
        """The tenant's event stream, oldest first (the Redis store's STREAM)."""
        return [e for _, e in self._tenant(tenant).events]

    # --- writes ---------------------------------------------------------------------------

    @property
    def submitted(self) -> int:
        return self._seq

    def submit(self, tenant: str, t: Transition, create: str = "") -> int:
        self._check()
        data = self._tenant(tenant)
        self._seq += 1
        seq = self._seq
        if create and create in data.interactions:
            # As the Redis store's create guard: nothing is written, the change is lost.
            self._lost.add(seq)
            self.go_down()
            self.come_back()
            return seq
        self._apply(tenant, data, t)
        asyncio.get_running_loop().call_soon(self._tell_durable, seq)
        return seq

    def _apply(self, tenant: str, data: TenantData, t: Transition) -> None:
        for rec in t.interactions:
            data.interactions[rec.id] = rec.snapshot()
            if rec.interaction.state in CLOSED:
                data.open.discard(rec.id)
                if not self.keep_closed:
                    del data.interactions[rec.id]
                    data.history.pop(rec.id, None)
            else:
                data.open.add(rec.id)
        for arec in t.agents:
            data.agents[arec.agent.id] = arec.snapshot()
        for agent_id in t.removed_agents:
            data.agents.pop(agent_id, None)
        for queue in t.queues:
            data.queues[queue.id] = queue
        for queue_id in t.removed_queues:
            data.queues.pop(queue_id, None)
        for e in t.events:
            if self.keep_closed or e.interaction_id in data.interactions:
                history = data.history.setdefault(e.interaction_id, [])
                history.append(e)
                if len(history) > HISTORY_LENGTH:
                    del history[: len(history) - HISTORY_LENGTH]
            self._entries += 1
            data.events.append((self._entries, e))
        for name, n in t.counters.items():
            data.counters[name] = data.counters.get(name, 0) + n
        for (bucket, name), value in t.tallies.items():
            counts = data.tallies.get(bucket)
            if counts is None:
                counts = data.tallies[bucket] = {}
                _expire_tallies(data.tallies, bucket)
            counts[name] = counts.get(name, 0) + value
        for c in t.customers:
            data.customers[c.customer_id] = c
            if self.keep_closed:  # a simulation forgets nobody: no index
                index = data.customer_interactions.setdefault(c.customer_id, set())
                index.add(c.last_interaction_id)
        for rec in t.interactions:
            customer_id = rec.interaction.customer_id
            if rec.interaction.state in CLOSED and customer_id and self.keep_closed:
                data.customer_interactions.setdefault(customer_id, set()).add(rec.id)
        for erased in t.erasures:
            self._erase(data, erased)
        if t.request is not None:
            data.requests[t.request.request_id] = t.request
        if t.new_tenant:
            self._tenant_set.add(tenant)
        data.quarantine.update(t.quarantined)

    @staticmethod
    def _erase(data: TenantData, e: Erasure) -> None:
        """As the Redis store's erasure ops: the listed stream entries, and any entry after
        `scanned_to` naming one of the interactions."""
        data.customers.pop(e.customer_id, None)
        data.customer_interactions.pop(e.customer_id, None)
        for iid in e.interaction_ids:
            data.history.pop(iid, None)
        listed, wanted = set(e.stream_entries), set(e.interaction_ids)
        after = stream_ids.parse(e.scanned_to)[1] if e.scanned_to else 0
        kept = [
            (n, ev)
            for n, ev in data.events
            if _entry_id(n) not in listed and not (n > after and ev.interaction_id in wanted)
        ]
        data.events.clear()
        data.events.extend(kept)

    def _tell_durable(self, seq: int) -> None:
        for listener in self._listeners:
            listener.on_durable(seq)

    async def durable(self, seq: int) -> None:
        if seq in self._lost:
            raise Unavailable("store unavailable: the change could not be written")
        if seq > self._seq:
            raise ValueError(f"sequence {seq} was never submitted")


def _entry_id(number: int) -> str:
    """The in-memory stream's entry id of entry `number` (stream_ids.py)."""
    return f"0-{number}"
