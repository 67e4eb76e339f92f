"""The Redis store's read of the measures' tallies, as a load makes it (26 hours of minute
buckets): every bucket with counts comes back, across the spans the read goes in, keys of
another type and values that are no number count as nothing, and the read sends a few
commands for the whole range, not one a bucket (a restart loads every tenant so before it
serves: 1,561 commands a tenant made a restart of a few hundred tenants take half a
minute). Real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import redis as redis_lib

from cim_router.store import RedisSettings, RedisStore
from cim_router.store.tally_reads import SPAN_BUCKETS
from cim_router.tenant.records import Transition
from cim_router.tenant.tallies import LOAD_BUCKETS
from tests.redis_server import drop_prefix, redis_url, unique_prefix

FIRST = 29_000_000  # a minute of 2025
LAST = FIRST + LOAD_BUCKETS


def run(body: Callable[[RedisStore, redis_lib.Redis], Awaitable[None]]) -> None:
    settings = RedisSettings.from_url(redis_url(), prefix=unique_prefix())
    raw = redis_lib.Redis.from_url(redis_url())

    async def main() -> None:
        store = RedisStore(settings)
        await store.start()
        try:
            await body(store, raw)
        finally:
            await store.close()

    try:
        asyncio.run(main())
    finally:
        raw.close()
        drop_prefix(settings.prefix)


def test_every_bucket_with_counts_reads_back_whatever_span_it_falls_in() -> None:
    edges = [FIRST, FIRST + SPAN_BUCKETS - 1, FIRST + SPAN_BUCKETS, FIRST + 1000, LAST]

    async def body(store: RedisStore, raw: redis_lib.Redis) -> None:
        t = Transition(new_tenant=True)
        for n, bucket in enumerate(edges, 1):
            t.tally(bucket, "q|voice|answered", n)
            t.tally(bucket, "q|voice|wait_seconds", n / 4)
        t.tally(FIRST - 1, "q|voice|answered", 9)  # outside the range read
        t.tally(LAST + 1, "q|voice|answered", 9)
        await store.durable(store.submit("t", t))
        other = Transition(new_tenant=True)
        other.tally(FIRST + 7, "q|voice|answered", 5)
        await store.durable(store.submit("u", other))
        raw.set(store.keys.tallies("t", FIRST + 3), "not a hash")
        raw.hset(store.keys.tallies("t", FIRST + 4), "q|voice|answered", "many")
        raw.hset(store.keys.tallies("t", FIRST + 5), mapping={"q|chat|offered": "2", "x": "?"})
        found = await store.read_tallies("t", FIRST, LAST)
        expected = {
            b: {"q|voice|answered": float(n), "q|voice|wait_seconds": n / 4}
            for n, b in enumerate(edges, 1)
        }
        expected[FIRST + 5] = {"q|chat|offered": 2.0}
        assert found == expected
        assert await store.read_tallies("u", FIRST, LAST) == {FIRST + 7: {"q|voice|answered": 5.0}}
        assert await store.read_tallies("t", LAST + 1, LAST + 1) == {
            LAST + 1: {"q|voice|answered": 9.0}
        }
        assert await store.read_tallies("t", LAST + 2, LAST + 1) == {}

    run(body)


def test_a_days_read_sends_a_few_commands_not_one_a_bucket() -> None:
    async def body(store: RedisStore, raw: redis_lib.Redis) -> None:
        t = Transition(new_tenant=True)
        t.tally(LAST, "q|voice|answered", 1)
        await store.durable(store.submit("t", t))
        before = int(raw.info("stats")["total_net_input_bytes"])
        assert await store.read_tallies("t", FIRST, LAST) == {LAST: {"q|voice|answered": 1.0}}
        sent = int(raw.info("stats")["total_net_input_bytes"]) - before
        # One HGETALL a bucket was some 70 bytes each, 100 KB for the day.
        assert sent < 10_000, sent

    run(body)
