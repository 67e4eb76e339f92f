"""Answers over a sliding window of time, for service level and average speed of answer."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass
class _Bin:
    start: float
    answered: int = 0
    within_sla: int = 0
    wait_sum: float = 0.0


@dataclass(frozen=True)
class WindowTotals:
    answered: int
    within_sla: int
    wait_sum: float

    @property
    def service_level(self) -> float:
        """Answered within the SLA target over answered; 1.0 when nothing was answered."""
        return self.within_sla / self.answered if self.answered else 1.0

    @property
    def average_speed_of_answer(self) -> float:
        return self.wait_sum / self.answered if self.answered else 0.0


class AnswerWindow:
    """Answers of the last `seconds`, kept in `bins` time bins.

    Bins rather than one entry per answer keep memory fixed at any arrival rate; the price
    is that an answer leaves the window up to one bin width late.
    """

    def __init__(self, seconds: float, bins: int = 60) -> None:
        if seconds <= 0 or bins < 1:
            raise ValueError("an answer window needs seconds > 0 and bins >= 1")
        self.seconds = seconds
        self.width = seconds / bins
        self._bins: deque[_Bin] = deque()

    def add(self, at: float, wait: float, within_sla: bool) -> None:
        start = math.floor(at / self.width) * self.width
        if not self._bins or self._bins[-1].start < start:
            self._bins.append(_Bin(start))
        # An answer reported out of order lands in the newest bin: at most one bin off.
        last = self._bins[-1]
        last.answered += 1
        last.within_sla += within_sla
        last.wait_sum += wait
        self._prune(at)

    def totals(self, now: float) -> WindowTotals:
        self._prune(now)
        return WindowTotals(
            sum(b.answered for b in self._bins),
            sum(b.within_sla for b in self._bins),
            sum(b.wait_sum for b in self._bins),
        )

    def _prune(self, now: float) -> None:
        horizon = now - self.seconds
        while self._bins and self._bins[0].start + self.width <= horizon:
            self._bins.popleft()
