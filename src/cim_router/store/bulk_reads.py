"""Reading many records at once, as a load does: MGETs packed here, many a round trip.

The client library packs a command argument by argument in Python, which for the
hundred thousand keys of a large tenant costs more than Redis takes to answer; these
commands are packed in one join per MGET and sent `DEPTH` at a time on one connection.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis

CHUNK = 1000  # keys per MGET
DEPTH = 16  # MGETs sent before the first answer is read


def pack_mget(keys: Sequence[bytes]) -> bytes:
    """One MGET of `keys`, as RESP."""
    head = b"*%d\r\n$4\r\nMGET\r\n" % (len(keys) + 1)
    return head + b"".join([b"$%d\r\n%s\r\n" % (len(k), k) for k in keys])


async def mget_many(redis: aioredis.Redis, keys: Sequence[bytes]) -> list[bytes | None]:
    """The values of `keys` (None for a key missing or not a string), in order."""
    out: list[bytes | None] = []
    if not keys:
        return out
    pool = redis.connection_pool
    conn = pool.connection_class(**pool.connection_kwargs)  # its own, closed at the end
    try:
        step = CHUNK * DEPTH
        for start in range(0, len(keys), step):
            end = min(start + step, len(keys))
            commands = [pack_mget(keys[n : min(n + CHUNK, end)]) for n in range(start, end, CHUNK)]
            await conn.send_packed_command(b"".join(commands))
            for _ in commands:
                out.extend(await conn.read_response())
    finally:
        await conn.disconnect()
    return out
