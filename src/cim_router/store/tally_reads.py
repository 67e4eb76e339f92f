"""The Redis store's read of the measures' tallies (tenant/tallies.py).

A load reads back 26 hours of minute buckets, 1,561 keys, most of them absent. Sent as
one HGETALL each, the commands and their empty replies cost tens of milliseconds a
tenant, and a restart loads every tenant before it serves. A script walks the buckets
inside Redis instead and answers only those with something in them; the buckets go in
spans, so that no one call holds Redis for long, all in one pipelined round trip.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cim_router.store.redis_store import RedisStore

# KEYS[1] = the first bucket's key (the tenant's hash slot: each bucket's key shares it)
# ARGV[1] = what every bucket's key starts with; ARGV[2], ARGV[3] = the first and last
# bucket. Returns, flat, each bucket that holds a hash with fields and that hash's
# HGETALL reply; a key of another type counts as nothing.
READ_BUCKETS = """
local out = {}
for bucket = tonumber(ARGV[2]), tonumber(ARGV[3]) do
  local found = redis.pcall('HGETALL', ARGV[1] .. string.format('%d', bucket))
  if type(found) == 'table' and found.err == nil and #found > 0 then
    out[#out + 1] = bucket
    out[#out + 1] = found
  end
end
return out
"""
SPAN_BUCKETS = 256  # buckets per script call


async def read_stored_tallies(
    store: RedisStore, tenant: str, first: int, last: int
) -> dict[int, dict[str, float]]:
    """Buckets `first`..`last` with something in them: bucket -> field name -> count."""
    start = store.keys.tallies_start(tenant)
    pipe = store.redis.pipeline(transaction=False)
    for lo in range(first, last + 1, SPAN_BUCKETS):
        hi = min(last, lo + SPAN_BUCKETS - 1)
        pipe.eval(READ_BUCKETS, 1, store.keys.tallies(tenant, lo), start, lo, hi)
    found = await store.round_trip("load", pipe.execute())
    out: dict[int, dict[str, float]] = {}
    for reply in found:
        for at in range(0, len(reply) - 1, 2):
            values = _counts(reply[at + 1])
            if values:
                out[int(reply[at])] = values
    return out


def _counts(flat: Any) -> dict[str, float]:
    """An HGETALL reply as a script returns it (name, value, name, value...), the values
    that are numbers as floats."""
    counts: dict[str, float] = {}
    for at in range(0, len(flat) - 1, 2):
        try:
            counts[flat[at].decode(errors="replace")] = float(flat[at + 1])
        except ValueError:
            continue
    return counts
