"""The Redis store's read of the measures' tallies (tenant/tallies.py): one HGETALL per
minute bucket, all in one pipelined round trip."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cim_router.store.redis_store import RedisStore


async def read_stored_tallies(
    store: RedisStore, tenant: str, first: int, last: int
) -> dict[int, dict[str, float]]:
    """Buckets `first`..`last` with something in them: bucket -> field name -> count."""
    buckets = list(range(first, last + 1))
    pipe = store.redis.pipeline(transaction=False)
    for bucket in buckets:
        pipe.hgetall(store.keys.tallies(tenant, bucket))
    found = await store.round_trip("load", pipe.execute(raise_on_error=False))
    out: dict[int, dict[str, float]] = {}
    for bucket, values in zip(buckets, found, strict=True):
        if isinstance(values, Exception) or not values:
            continue  # a key of the wrong type counts as nothing
        counts = out[bucket] = {}
        for name, value in values.items():
            try:
                counts[name.decode(errors="replace")] = float(value)
            except ValueError:
                continue
    return out
