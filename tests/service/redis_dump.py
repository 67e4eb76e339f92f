"""Everything a test server left in Redis under its prefix, key names included: each key
read as its type (strings, hashes, lists, sets, sorted sets, streams), as one text to
search for what must not be there."""

from __future__ import annotations

import redis

from tests.redis_server import redis_url


def dump(prefix: str) -> dict[str, str]:
    """Key name -> its contents as text, for every key under `prefix`."""
    client = redis.Redis.from_url(redis_url())
    out: dict[str, str] = {}
    try:
        for raw in client.scan_iter(match=f"{prefix}:*", count=1000):
            key = raw.decode() if isinstance(raw, bytes) else str(raw)
            found = client.type(raw)
            kind = found.decode() if isinstance(found, bytes) else str(found)
            value: object
            if kind == "string":
                value = client.get(raw)
            elif kind == "hash":
                value = client.hgetall(raw)
            elif kind == "list":
                value = client.lrange(raw, 0, -1)
            elif kind == "set":
                value = client.smembers(raw)
            elif kind == "zset":
                value = client.zrange(raw, 0, -1, withscores=True)
            elif kind == "stream":
                value = client.xrange(raw, "-", "+")
            else:
                raise AssertionError(f"{key}: a key of an unexpected type {kind}")
            out[key] = repr(value)
    finally:
        client.close()
    return out


def everything(prefix: str) -> str:
    """Key names and contents together."""
    return "\n".join(f"{key} {value}" for key, value in sorted(dump(prefix).items()))
