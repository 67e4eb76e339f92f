"""Per-key quotas, counted in this server: a request rate (a token bucket) and caps on the
WatchAssignments and WatchEvents streams (counted together) and Assign(wait) calls a key
holds open. Past any of them the call is RESOURCE_EXHAUSTED and changes nothing; the bucket
refills as time passes. A cap of 0 is no cap."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from cim_router.tenant.errors import ResourceExhausted


class KeyQuota:
    """One key's live counts (shared by every call made with it)."""

    def __init__(
        self,
        rate: float,
        burst: int,
        max_watch_streams: int,
        max_waiting_assigns: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = float(max(burst, 1))
        self.max_watch_streams = max_watch_streams
        self.max_waiting_assigns = max_waiting_assigns
        self.clock = clock
        self.tokens = self.burst
        self.stamp = clock()
        self.watch_streams = 0
        self.waiting_assigns = 0

    def configure(self, rate: float, burst: int, watch: int, waiting: int) -> None:
        """New limits for the same key (its record changed); the counts carry on."""
        self.rate, self.burst = rate, float(max(burst, 1))
        self.tokens = min(self.tokens, self.burst)
        self.max_watch_streams, self.max_waiting_assigns = watch, waiting

    def take(self) -> None:
        """Spend one request's token, or refuse the request."""
        if self.rate <= 0:
            return
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1.0:
            raise ResourceExhausted("this key's request rate is exceeded; retry later")
        self.tokens -= 1.0

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        if self.max_watch_streams and self.watch_streams >= self.max_watch_streams:
            raise ResourceExhausted(
                f"this key holds {self.watch_streams} WatchAssignments streams and "
                "WatchEvents streams (counted together), its cap"
            )
        self.watch_streams += 1
        try:
            yield
        finally:
            self.watch_streams -= 1

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        if self.max_waiting_assigns and self.waiting_assigns >= self.max_waiting_assigns:
            raise ResourceExhausted(
                f"this key has {self.waiting_assigns} Assign calls waiting, its cap"
            )
        self.waiting_assigns += 1
        try:
            yield
        finally:
            self.waiting_assigns -= 1


@contextlib.contextmanager
def no_quota() -> Iterator[None]:
    yield
