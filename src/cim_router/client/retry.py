"""Deadlines and retries: one deadline covers a call and all its retries."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass

import grpc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retry:
    """Retries on UNAVAILABLE, with exponential backoff and jitter.

    `attempts` counts the first try: 1 never retries. The n-th retry waits
    `min(max_backoff, initial_backoff * multiplier ** (n - 1))`, scaled by a random factor
    in `[1 - jitter, 1 + jitter]` so that many clients do not retry in step.
    """

    attempts: int = 4
    initial_backoff: float = 0.1
    max_backoff: float = 2.0
    multiplier: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must be in [0, 1]")

    def backoff(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1 for the first retry)."""
        base = min(self.max_backoff, self.initial_backoff * self.multiplier ** (retry - 1))
        return base * random.uniform(1.0 - self.jitter, 1.0 + self.jitter)


NO_RETRY = Retry(attempts=1)


class Attempts:
    """One call's budget: its deadline, and whether a failed attempt may be retried."""

    def __init__(self, retry: Retry, timeout: float | None, what: str = "call") -> None:
        self.retry = retry
        self.what = what
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.count = 0

    def timeout(self) -> float | None:
        """The time left for the next attempt (counting it); None for no deadline."""
        self.count += 1
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    def retry_after(self, code: grpc.StatusCode) -> float | None:
        """Seconds to wait before trying again, or None to give up."""
        if code != grpc.StatusCode.UNAVAILABLE or self.count >= self.retry.attempts:
            return None
        delay = self.retry.backoff(self.count)
        if self.deadline is not None and time.monotonic() + delay >= self.deadline:
            return None
        log.debug("%s: UNAVAILABLE, retry %d in %.3f s", self.what, self.count, delay)
        return delay
