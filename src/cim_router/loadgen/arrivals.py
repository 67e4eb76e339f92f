"""Open-loop arrivals: a Poisson process paced against the clock, not against replies."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator


def poisson_offsets(rate: float, rng: random.Random) -> Iterator[float]:
    """Arrival times in seconds from the start of a Poisson process at `rate` per second:
    the sums of exponential inter-arrival gaps with mean 1 / rate."""
    if rate <= 0:
        raise ValueError("rate must be > 0")
    at = 0.0
    while True:
        at += rng.expovariate(rate)
        yield at


async def pace(
    offsets: Iterator[float],
    fire: Callable[[int], None],
    *,
    duration: float | None,
    count: int | None,
    clock: Callable[[], float] = time.perf_counter,
) -> int:
    """Call `fire(n)` for arrival n at its due time (`clock()` at the start + its offset)
    until `duration` seconds have passed or `count` arrivals were fired; the number fired.

    Due times are fixed in advance, so a slow server does not slow arrivals down: an
    arrival that falls due while the event loop was busy fires at once.
    """
    start = clock()
    n = 0
    for offset in offsets:
        if (count is not None and n >= count) or (duration is not None and offset >= duration):
            break
        delay = start + offset - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        fire(n)
        n += 1
    if duration is not None and (count is None or n < count):
        # A run bounded by time lasts that long even when the last arrival came early.
        rest = start + duration - clock()
        if rest > 0:
            await asyncio.sleep(rest)
    return n
