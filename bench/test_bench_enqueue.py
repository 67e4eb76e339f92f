"""Durable Enqueue over gRPC against the transport's limit, side by side in one run.

Three servers, each a child process on this machine, driven by the same client (grpc.aio,
`CONCURRENCY` calls in flight, unique interaction ids, `x-cim-tenant` set):
- a no-op grpc.aio server of the same service (`bench/noop_server.py`);
- cim-router, every Enqueue durable in Redis before its answer, with group commit;
- cim-router with group commit off (`max_batch=1`: one Redis round trip per change).
Bar: durable Enqueue >= 70% of the no-op server's rate. The suite runs a short pass of
each as a check; `CIM_BENCH_FULL=1` runs the measurement.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from bench.router_process import floor
from cim_router._pb import router_pb2 as pb
from cim_router._pb import router_pb2_grpc
from tests.redis_server import drop_prefix, redis_url, unique_prefix
from tests.store.process import ServerProcess, start

FULL = os.environ.get("CIM_BENCH_FULL") == "1"
CALLS = 20_000 if FULL else 300
ROUNDS = 3 if FULL else 1
CONCURRENCY = 64


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    policy = tmp_path_factory.mktemp("bench") / "policy.toml"
    policy.write_text("offer_timeout_seconds = 30\n")
    routers: list[ServerProcess] = []
    prefixes: list[str] = []
    try:
        with floor() as noop:
            targets = {"noop": noop.address}
            for name, query in (("group_commit", ""), ("no_group_commit", "&max_batch=1")):
                prefixes.append(unique_prefix())
                routers.append(start(f"{redis_url()}?prefix={prefixes[-1]}{query}", policy))
                targets[name] = routers[-1].address
            yield targets
    finally:
        for router in routers:
            router.terminate()
        for prefix in prefixes:
            drop_prefix(prefix)


async def _drive(target: str, calls: int) -> float:
    """Send `calls` Enqueues with CONCURRENCY in flight; the rate in calls per second."""
    run = uuid.uuid4().hex[:8]
    metadata = (("x-cim-tenant", f"bench-{run}"),)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = router_pb2_grpc.RouterStub(channel)
        await stub.Enqueue(
            pb.EnqueueRequest(interaction_id=f"warm-{run}", channel=pb.CHANNEL_CHAT),
            metadata=metadata,
            timeout=10,
        )
        counter = iter(range(calls))

        async def worker() -> None:
            for n in counter:
                request = pb.EnqueueRequest(
                    interaction_id=f"{run}-{n}",
                    channel=pb.CHANNEL_CHAT,
                    priority=n % 100,
                    required_skills=[pb.SkillRequirement(skill="billing", min_level=3)],
                )
                await stub.Enqueue(request, metadata=metadata, timeout=10)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return calls / (time.perf_counter() - start)


RATES: dict[str, float] = {}


@pytest.mark.parametrize("server", ["noop", "group_commit", "no_group_commit"])
def test_enqueue_rate(benchmark: Any, servers: dict[str, str], server: str) -> None:
    benchmark.group = f"durable Enqueue over gRPC, {CONCURRENCY} in flight"
    rates: list[float] = []

    def one_round() -> None:
        rates.append(asyncio.run(_drive(servers[server], CALLS)))

    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1)
    rate = sorted(rates)[len(rates) // 2]
    RATES[server] = rate
    benchmark.extra_info["calls_per_second"] = round(rate)
    benchmark.extra_info["calls"] = CALLS
    assert rate > 0
    if "noop" in RATES and server != "noop":
        ratio = rate / RATES["noop"]
        benchmark.extra_info["vs_noop"] = round(ratio, 3)
        print(f"\n{server}: {rate:,.0f}/s = {ratio:.0%} of the no-op server's rate")


def test_written_to_redis_when_acknowledged(servers: dict[str, str]) -> None:
    """The figures above are for durable writes: what Enqueue acknowledged is in Redis."""
    import redis

    from cim_router.store.keys import Keys

    async def one() -> str:
        async with grpc.aio.insecure_channel(servers["group_commit"]) as channel:
            stub = router_pb2_grpc.RouterStub(channel)
            iid = f"check-{uuid.uuid4().hex[:8]}"
            await stub.Enqueue(
                pb.EnqueueRequest(interaction_id=iid, channel=pb.CHANNEL_CHAT), timeout=10
            )
            return iid

    iid = asyncio.run(one())
    # The server's prefix is in its URL; find the key by pattern.
    client = redis.Redis.from_url(redis_url())
    try:
        pattern = Keys("*").interaction("default", iid)
        assert list(client.scan_iter(match=pattern, count=10_000))
    finally:
        client.close()
