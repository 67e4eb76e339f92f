"""WatchEvents: a tenant's event stream (the store's, every routing event) followed from an
entry id, as many streams as the tenant's cap allows.

A follower reads the store's stream after its cursor, page by page, and yields each entry
of the types it wants; caught up, it waits until the tenant's next changes are durable
(`on_durable` wakes it, after the store said so) and reads again. So it delivers only what
the store holds, in the stream's order, each entry once, and holds no store connection
while it waits: a read is one round trip on the store's shared pool, and the followers at
one cursor (all those caught up) share it. Resuming after an id reads strictly after it;
an id older than the stream's first entry (trimmed away, see `check_kept`) is refused with
OUT_OF_RANGE naming where the stream now starts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Collection

from cim_router.tenant import stream_ids
from cim_router.tenant.errors import OutOfRange
from cim_router.tenant.ports import StreamEntry, StreamPage
from cim_router.tenant.records import EventType
from cim_router.tenant.router import TenantRouter
from cim_router.tenant.watch import Watcher

KIND = "WatchEvents"  # the hub's name for these streams, capped per tenant
PAGE = 500  # entries per read of the store
# A caught-up follower reads again after this long even with no wake: a safety net only
# (every change of the tenant wakes it), so that nothing could leave it stuck.
IDLE_READ_SECONDS = 5.0


def on_durable(r: TenantRouter, seq: int) -> None:
    """Submission `seq` (of any tenant) is durable: wake the tenant's followers if changes
    the tenant submitted may be among those now stored."""
    reached = min(seq, r.seq)
    if reached > r.hub.woken_at and r.hub.count(KIND):
        r.hub.woken_at = reached
        r.hub.poke(KIND)


def check_kept(cursor: str, page: StreamPage) -> None:
    """Refuse a cursor older than the stream's first entry: what came after it is gone."""
    if cursor != stream_ids.START and page.first_id and stream_ids.before(cursor, page.first_id):
        raise OutOfRange(
            f"after_id: {cursor} is older than the event stream, which now starts at "
            f"{page.first_id}; resume with from_start (or after_id 0-0) to read from there"
        )


async def start_cursor(r: TenantRouter, after_id: str, from_start: bool) -> str:
    """Where a new stream starts: after `after_id` (checked to be kept), at the first entry
    kept (`from_start`), or after the newest entry now stored (neither)."""
    if from_start:
        return stream_ids.START
    page = await r.store.read_events(r.tenant, after_id or stream_ids.START, 1)
    if after_id:
        check_kept(after_id, page)
        return after_id
    return page.last_id or stream_ids.START


async def _read(r: TenantRouter, cursor: str) -> StreamPage:
    """A page after `cursor`, read once for every stream at that cursor: a read joins one
    in flight only if that began since the last wake (so it sees every change the wake
    was for); one stream leaving does not cancel it for the others."""
    key = (cursor, r.hub.pokes)
    reads = r.hub.event_reads
    pending = reads.get(key)
    if pending is None:
        pending = asyncio.ensure_future(r.store.read_events(r.tenant, cursor, PAGE))
        reads[key] = pending

        def done(f: asyncio.Future[StreamPage]) -> None:
            if reads.get(key) is f:
                del reads[key]
            if not f.cancelled():
                f.exception()  # retrieved: no warning when every reader has gone

        pending.add_done_callback(done)
    page: StreamPage = await asyncio.shield(pending)
    return page


def subscribe(r: TenantRouter, limit: int) -> Watcher:
    """A new stream of the tenant's; ResourceExhausted past `limit` open at once. The
    caller unsubscribes it (`r.hub.unsubscribe`) when the stream ends."""
    return r.hub.subscribe(frozenset(), kind=KIND, limit=limit)


async def follow(
    r: TenantRouter, watcher: Watcher, cursor: str, types: Collection[EventType]
) -> AsyncIterator[StreamEntry]:
    """The entries after `cursor` of the types wanted (all when empty), then every later
    one as it is stored, until the watcher is closed (the tenant is removed or the server
    stops)."""
    wanted = frozenset(types)
    while not watcher.closed:
        watcher.wake.clear()  # before the read: a change stored during it wakes us
        page = await _read(r, cursor)
        check_kept(cursor, page)
        for entry in page.entries:
            if not wanted or entry.event.type in wanted:
                yield entry
        if page.scanned_to:
            cursor = page.scanned_to
        if page.size < PAGE:  # caught up: wait for the next durable change
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(watcher.wake.wait(), IDLE_READ_SECONDS)
