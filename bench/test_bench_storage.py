"""Storage: the Redis bytes each retained closed interaction costs.

N interactions, each of its own customer (as the load generator sends them: one required
skill, an SLA, no context), enqueued, offered, accepted and completed through a tenant on a
real Redis, wrap-up 0. What each leaves behind for the retention: with JSON records, its
record (`ix:`), its history (`hist:`), and its customer's record and index (`cu:`,
`cuix:`); with compact records, its record holding its history (`ix:`) and its customer's
record and index in one hash (`cus:`). Counted two ways:
MEMORY USAGE of those keys (exact, `SAMPLES 0`), and the growth of Redis's `used_memory`
over the run less the event stream's (which is capped at `stream_maxlen`, whatever the
retention), per interaction. Each record format is measured in the same run, on its own
prefix. Bar: <= 1 KB by `used_memory` (where it stands: bench/README.md).
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest
import redis

from cim_router.domain.channel import Channel
from cim_router.domain.interaction import Interaction, SkillRequirement
from cim_router.domain.policy import Policy
from cim_router.store import RedisSettings, RedisStore
from cim_router.tenant import interactions
from cim_router.tenant.router import TenantRouter
from tests.redis_server import drop_prefix, redis_url, unique_prefix
from tests.tenant.harness import Harness

N = 2_000  # with --benchmark-enable; the test suite's check drives CHECK_N
CHECK_N = 200
AGENTS = 50
KINDS = ("ix", "hist", "cu", "cuix", "cus")
# The keys each format leaves per closed interaction (and none of the others' kinds).
LEFT = {"json": {"ix", "hist", "cu", "cuix"}, "compact": {"ix", "cus"}}
RESULTS: dict[str, dict[str, float]] = {}


def _used(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def _usage(client: redis.Redis, key: bytes | str) -> int:
    found = client.memory_usage(key, samples=0)
    return int(found or 0)


async def _drive(settings: RedisSettings, n: int) -> None:
    store = RedisStore(settings)
    h = await Harness(Policy(wrap_up_seconds=dict.fromkeys(Channel, 0.0)), store).start()
    for a in range(AGENTS):
        await h.agent(f"agent-{a:03d}", {"skill-3": 8}, capacity={Channel.CHAT: 1})
    for k in range(n):
        # Times with fractions, as a real clock's (a whole second packs smaller), about
        # 14 a second: the per-minute tallies count for what they would at that rate.
        h.clock.set(h.clock() + 0.0123457)
        iid = f"s7-{k:06d}"
        i = Interaction(
            iid,
            Channel.CHAT,
            required=(SkillRequirement("skill-3", 2),),
            customer_id=f"cust-{k:06d}",
            sla_seconds=30.0,
        )
        digest = hashlib.sha256(iid.encode()).digest()  # as the service's, of the request

        async def enqueue(r: TenantRouter, i: Interaction = i, d: bytes = digest) -> None:
            await interactions.enqueue(r, i, d)

        await h.call(enqueue)
        offered = h.get(iid).offer
        assert offered is not None, "an agent is free for each: every one is offered"
        h.clock.set(h.clock() + 0.0271828)
        await h.accept(iid, offered.agent_id)
        h.clock.set(h.clock() + 0.0314159)
        await h.complete(iid, offered.agent_id, csat=4)
    await h.tenants.stop()
    await store.close()


def _measure(fmt: str, n: int) -> dict[str, float]:
    settings = RedisSettings.from_url(redis_url(), prefix=unique_prefix(), record_format=fmt)
    client = redis.Redis.from_url(redis_url())
    try:
        before = _used(client)
        asyncio.run(_drive(settings, n))
        after = _used(client)
        per_kind = dict.fromkeys(KINDS, 0)
        counted = dict.fromkeys(KINDS, 0)
        stream = 0
        for key in client.scan_iter(match=f"{settings.prefix}:*", count=1000):
            kind = key.decode().rsplit(":", 2)[-2]
            if kind in per_kind:
                per_kind[kind] += _usage(client, key)
                counted[kind] += 1
            elif key.decode().endswith(":events"):
                stream = _usage(client, key)
        assert counted == {k: n if k in LEFT[fmt] else 0 for k in KINDS}, counted
        out = {k: per_kind[k] / n for k in KINDS}
        out["keys"] = sum(per_kind.values()) / n
        out["used_memory"] = (after - before - stream) / n
        return out
    finally:
        drop_prefix(settings.prefix)
        client.close()


@pytest.mark.parametrize("fmt", ["json", "compact"])
def test_bytes_per_closed_interaction(benchmark: Any, fmt: str) -> None:
    benchmark.group = "storage: bytes per retained closed interaction"
    n = CHECK_N if benchmark.disabled else N
    found = RESULTS[fmt] = benchmark.pedantic(lambda: _measure(fmt, n), rounds=1)
    benchmark.extra_info.update(found)
    print(
        f"\n{fmt}: "
        + ", ".join(f"{k} {v:,.0f} B" for k, v in found.items())
        + " per closed interaction"
    )
    assert all(found[k] > 0 for k in LEFT[fmt])
    if fmt == "compact" and "json" in RESULTS:
        assert found["keys"] < 0.6 * RESULTS["json"]["keys"], (found, RESULTS["json"])
        met = "met" if found["used_memory"] <= 1024 else "not met"
        print(f"bar <= 1,024 B by used_memory: {met}")
