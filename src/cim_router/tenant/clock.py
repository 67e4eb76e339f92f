"""The clock the router reads: wall time in production, a manual clock in tests and in
simulation, where time moves only when told to."""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]
wall_clock: Clock = time.time


class ManualClock:
    """A clock that stands still until `advance` or `set` moves it (never backwards)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("time does not go backwards")
        self.now += seconds
        return self.now

    def set(self, at: float) -> None:
        if at < self.now:
            raise ValueError("time does not go backwards")
        self.now = at
