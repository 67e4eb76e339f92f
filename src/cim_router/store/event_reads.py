"""The Redis store's reads of a tenant's event stream, for WatchEvents: a page of entries
after an id, and where the stream starts and ends, in one round trip."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from cim_router.store import codec
from cim_router.tenant import stream_ids
from cim_router.tenant.ports import StreamEntry, StreamPage

if TYPE_CHECKING:
    from cim_router.store.redis_store import RedisStore

log = logging.getLogger(__name__)


async def read_events(store: RedisStore, tenant: str, after: str, count: int) -> StreamPage:
    key = store.keys.events(tenant)
    start = "-" if after == stream_ids.START else "(" + after
    pipe = store.redis.pipeline(transaction=False)
    if after != stream_ids.LAST:  # nothing comes after that one (and Redis refuses "(" of it)
        pipe.xrange(key, start, "+", count)
    pipe.xrange(key, "-", "+", 1)
    pipe.xrevrange(key, "+", "-", 1)
    found = await store.round_trip("read", pipe.execute(raise_on_error=False))
    page, first, last = found if len(found) == 3 else ([], *found)
    if isinstance(page, Exception) or isinstance(first, Exception):
        log.warning("event stream key of the wrong type", extra={"tenant": tenant})
        return StreamPage()
    entries: list[StreamEntry] = []
    scanned = ""
    for entry_id, fields in page:
        scanned = entry_id.decode()
        try:
            entries.append(StreamEntry(scanned, codec.event_in(fields[b"e"])))
        except Exception:  # a bad entry must not stop the stream: read past it
            log.warning("undecodable stream entry left out", extra={"tenant": tenant})
    return StreamPage(
        tuple(entries),
        scanned,
        first[0][0].decode() if first else "",
        last[0][0].decode() if last and not isinstance(last, Exception) else "",
        len(page),
    )
