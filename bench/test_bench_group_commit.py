"""Group commit on its own: durable Enqueue through the lifecycle and the Redis store,
without gRPC, `CONCURRENCY` enqueues in flight, with grouping and with it off
(`max_batch=1`, one Redis round trip per change). Same process, same Redis, one run."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import pytest

from cim_router._pb import router_pb2 as pb
from cim_router.domain.policy import Policy
from cim_router.service import convert
from cim_router.store import RedisSettings, RedisStore
from cim_router.tenant import interactions
from cim_router.tenant.registry import Tenants
from tests.redis_server import drop_prefix, redis_url, unique_prefix

FULL = os.environ.get("CIM_BENCH_FULL") == "1"
CALLS = 10_000 if FULL else 300
CONCURRENCY = 64


async def _enqueue_rate(max_batch: int) -> tuple[float, int]:
    prefix = unique_prefix()
    settings = RedisSettings.from_url(redis_url(), prefix=prefix, max_batch=max_batch)
    store = RedisStore(settings)
    commits = 0

    class Count:
        def redis_roundtrip(self, op: str, seconds: float) -> None:
            nonlocal commits
            commits += op == "commit"

        def redis_error(self, op: str) -> None:
            return None

    store.metrics = Count()
    await store.start()
    try:
        tenants = Tenants(store, Policy(offer_timeout_seconds=30))
        requests = iter(
            pb.EnqueueRequest(
                interaction_id=f"i{k}",
                channel=pb.CHANNEL_CHAT,
                priority=k % 100,
                required_skills=[pb.SkillRequirement(skill="billing", min_level=3)],
            )
            for k in range(CALLS)
        )

        async def worker() -> None:
            for request in requests:
                async with tenants.use("default") as router:
                    interaction = convert.interaction_in(request)
                    await interactions.enqueue(router, interaction, convert.digest(request))

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        rate = CALLS / (time.perf_counter() - start)
        found = tenants.find("default")
        assert found is not None and len(found.open) == CALLS
        return rate, commits
    finally:
        await store.close()
        drop_prefix(prefix)


@pytest.mark.parametrize("max_batch", [256, 1], ids=["group_commit", "no_group_commit"])
def test_durable_enqueue_rate(benchmark: Any, max_batch: int) -> None:
    benchmark.group = f"durable Enqueue without gRPC, {CONCURRENCY} in flight"
    results: list[tuple[float, int]] = []
    benchmark.pedantic(
        lambda: results.append(asyncio.run(_enqueue_rate(max_batch))),
        rounds=3 if FULL else 1,
        iterations=1,
    )
    rate, commits = sorted(results)[len(results) // 2]
    benchmark.extra_info.update(calls_per_second=round(rate), round_trips=commits)
    print(f"\nmax_batch={max_batch}: {rate:,.0f} enqueues/s, {commits} commits for {CALLS}")
    if max_batch == 1:
        assert commits >= CALLS  # every change its own round trip
    else:
        assert commits < CALLS / 4  # concurrent changes share round trips
