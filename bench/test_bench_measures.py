"""What the measures cost: one count as the unit of work makes it (a few dict updates),
and the rows GetStats and each scrape compute, over a busy day's minute buckets.

Run with `--benchmark-enable` for figures; in the test suite each runs once as a check."""

from __future__ import annotations

import asyncio
from typing import Any

from cim_router.domain.channel import Channel
from cim_router.domain.policy import Policy
from cim_router.tenant.records import Transition
from cim_router.tenant.tallies import Tallies, bucket_of, field_name
from cim_router.tenant.windows import measure_rows
from tests.tenant.harness import Harness

NOW = 1_796_169_600.0 + 14 * 3600  # 2026-12-02 14:00 UTC: 840 buckets since midnight
QUEUES = [f"q{n}" for n in range(5)]
CHANNELS = (Channel.VOICE, Channel.CHAT)


def test_one_count(benchmark: Any) -> None:
    tallies, tx = Tallies(), Transition()

    def count() -> None:
        bucket = bucket_of(NOW)
        tallies.add(bucket, ("sales", Channel.VOICE), "answered", 1)
        tx.tally(bucket, field_name("sales", Channel.VOICE, "answered"), 1)

    benchmark(count)
    assert tallies.total(bucket_of(NOW), bucket_of(NOW))["sales", Channel.VOICE].answered >= 1


def test_rows_of_a_busy_day(benchmark: Any) -> None:
    async def setup() -> Harness:
        h = Harness(Policy())
        h.clock.set(NOW)
        await h.start()
        await h.agent("ann")
        r = h.router()
        first = bucket_of(NOW) - 14 * 60
        for bucket in range(first, bucket_of(NOW) + 1):
            for q in QUEUES:
                for c in CHANNELS:
                    r.tallies.add(bucket, (q, c), "offered", 3)
                    r.tallies.add(bucket, (q, c), "answered", 2)
                    r.tallies.add(bucket, (q, c), "wait_seconds", 31.5)
        return h

    h = asyncio.run(setup())
    r = h.router()
    rows = benchmark(lambda: measure_rows(r, NOW))
    today = next(x for x in rows if x.window == "today" and not x.queue_id and x.channel is None)
    assert today.tally.offered == 3 * len(QUEUES) * len(CHANNELS) * (14 * 60 + 1)
