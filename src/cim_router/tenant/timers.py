"""Due times of every tenant in one heap: an idle tenant costs nothing, and the clock task
sleeps until the first thing that is due."""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Hashable
from enum import Enum
from typing import NamedTuple


class Due(Enum):
    """What falls due; each kind names its key."""

    OFFER = "offer"  # an offer expires (interaction id)
    WRAP = "wrap"  # an interaction's wrap-up ends (interaction id)
    AGENT_WRAP = "agent_wrap"  # an agent's wrap-up ends (agent id)
    RELAX = "relax"  # a relaxation step starts (interaction id)
    LAPSE = "lapse"  # an exclusion lapses (interaction id)
    MATCH = "match"  # match everything that waits (after a load; key "")
    GATE = "gate"  # a routing profile's delay for the interaction's queue ends (interaction id)
    RULES = "rules"  # a timed overflow rule or the queue's maximum wait (interaction id)
    HOURS = "hours"  # a queue with CLOSED rules opens or closes (queue id)
    AUTOMATION = "automation"  # a wait threshold of an automation rule (interaction id)
    RELEASE = "release"  # held work (scheduled, a callback's retry) starts routing (id)
    HOLD_LIMIT = "hold_limit"  # a hold passes the policy's hold_limit_seconds (interaction id)


class Timer(NamedTuple):
    """A tuple, cheap to make by the hundred thousand (a load schedules one per waiting
    interaction); ordered by (due, seq), and seq is unique, so nothing after it compares."""

    due: float
    seq: int
    owner: Hashable  # the tenant's router
    generation: int  # the owner's load it belongs to
    kind: Due
    key: str


class Timers:
    """A min-heap of timers over all tenants; `changed` wakes the clock task when a timer
    earlier than every other is added."""

    def __init__(self) -> None:
        self._heap: list[Timer] = []
        self._seq = 0
        self.changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._heap)

    def at(self, due: float, owner: Hashable, generation: int, kind: Due, key: str) -> None:
        self._seq += 1
        heap = self._heap
        if not heap or due < heap[0][0]:
            self.changed.set()
        heapq.heappush(heap, Timer(due, self._seq, owner, generation, kind, key))

    def next_due(self) -> float | None:
        return self._heap[0].due if self._heap else None

    def pop_due(self, now: float) -> list[Timer]:
        """Every timer due by `now`, earliest first."""
        out = []
        while self._heap and self._heap[0].due <= now:
            out.append(heapq.heappop(self._heap))
        return out

    def drop(self, owner: Hashable) -> None:
        """Forget an owner's timers (a tenant that is gone)."""
        self._heap = [t for t in self._heap if t.owner is not owner]
        heapq.heapify(self._heap)
