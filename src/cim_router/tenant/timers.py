"""Due times of every tenant in one heap: an idle tenant costs nothing, and the clock task
sleeps until the first thing that is due."""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Hashable
from dataclasses import dataclass, field
from enum import Enum


class Due(Enum):
    """What falls due; each kind names its key."""

    OFFER = "offer"  # an offer expires (interaction id)
    WRAP = "wrap"  # an interaction's wrap-up ends (interaction id)
    AGENT_WRAP = "agent_wrap"  # an agent's wrap-up ends (agent id)
    RELAX = "relax"  # a relaxation step starts (interaction id)
    LAPSE = "lapse"  # an exclusion lapses (interaction id)
    MATCH = "match"  # match everything that waits (after a load; key "")


@dataclass(order=True, frozen=True)
class Timer:
    due: float
    seq: int
    owner: Hashable = field(compare=False)  # the tenant's router
    generation: int = field(compare=False)  # the owner's load it belongs to
    kind: Due = field(compare=False)
    key: str = field(compare=False)


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
        timer = Timer(due, self._seq, owner, generation, kind, key)
        if not self._heap or timer.due < self._heap[0].due:
            self.changed.set()
        heapq.heappush(self._heap, timer)

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
