"""The Redis store's reads of one customer, for ForgetCustomer: the customer's record and
index, and what forgetting their interactions would erase (history, stream entries); for
GetCustomer: the record and the interactions the index lists; and
the customer key secret the store keeps in Redis when it was given none.

A customer's record and index are one hash (`Keys.customer_fields`) when written with
compact records, a string and a set (`Keys.customer`, `Keys.customer_interactions`) when
written as JSON or by versions before: every read here reads both layouts, the hash's
record first, and the ids of both indexes."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from cim_router.store import codec
from cim_router.store.decode import interaction_or_none
from cim_router.store.history_reads import folded_entries
from cim_router.store.keys import MIN_SECRET_BYTES
from cim_router.tenant.errors import Unavailable
from cim_router.tenant.ports import CustomerFootprint, CustomerView, Erasable
from cim_router.tenant.records import CustomerRecord, InteractionRecord

if TYPE_CHECKING:
    from cim_router.store.redis_store import RedisStore

log = logging.getLogger(__name__)

SCAN_PAGE = 1000  # stream entries per XRANGE while looking for a customer's
VIEW_CHUNK = 1000  # interaction records per MGET while reading a customer's


async def stored_secret(store: RedisStore) -> bytes:
    """The customer key secret kept in Redis, made by the first server that needed it."""
    key = store.keys.customer_secret_key()
    await store.redis.set(key, secrets.token_hex(32), nx=True)
    found = await store.redis.get(key)
    if not isinstance(found, bytes) or len(found) < MIN_SECRET_BYTES:
        raise Unavailable(f"redis key {key} does not hold a customer key secret")
    return found


async def keep_secret(store: RedisStore) -> None:
    """Store the secret in use again, unless one is there (a Redis that lost its data)."""
    await store.redis.set(store.keys.customer_secret_key(), store.keys.customer_secret, nx=True)


def customer_or_none(tenant: str, customer_id: str, *values: Any) -> CustomerRecord | None:
    """The customer's record: the first of `values` (as stored, newest layout first) that
    is one; a bad one only loses the link."""
    for data in values:
        if isinstance(data, bytes):
            try:
                return codec.customer_in(customer_id, data)
            except Exception:
                log.warning("undecodable customer record ignored", extra={"tenant": tenant})
    return None


def _ids(tenant: str, *indexes: Any) -> list[str]:
    """The interaction ids the hash's fields (but its record's, "") and the set list."""
    ids: set[str] = set()
    for found in indexes:
        if isinstance(found, Exception):
            log.warning("customer index of the wrong type", extra={"tenant": tenant})
            continue
        ids.update(m.decode(errors="replace") for m in found if m)
    return sorted(ids)


async def read_customer(store: RedisStore, tenant: str, customer_id: str) -> CustomerFootprint:
    k = store.keys
    pipe = store.redis.pipeline(transaction=False)
    pipe.exists(
        k.customer_fields(tenant, customer_id),
        k.customer(tenant, customer_id),
        k.legacy_customer(tenant, customer_id),
    )
    pipe.hkeys(k.customer_fields(tenant, customer_id))
    pipe.smembers(k.customer_interactions(tenant, customer_id))
    found = await store.round_trip("read", pipe.execute(raise_on_error=False))
    records, fields, members = found
    known = not isinstance(records, Exception) and bool(records)
    ids = _ids(tenant, fields, members)
    return CustomerFootprint(known or bool(ids), tuple(ids))


async def read_erasable(
    store: RedisStore, tenant: str, interaction_ids: Collection[str]
) -> Erasable:
    wanted = set(interaction_ids)
    if not wanted:
        return Erasable()
    pipe = store.redis.pipeline(transaction=False)
    for iid in sorted(wanted):
        pipe.llen(store.keys.history(tenant, iid))
        pipe.get(store.keys.interaction(tenant, iid))
    found = await store.round_trip("read", pipe.execute(raise_on_error=False))
    history = sum(n for n in found[::2] if isinstance(n, int))
    history += sum(len(folded_entries(record, tenant)) for record in found[1::2])
    entries, last = await _scan_events(store, tenant, wanted)
    return Erasable(history, tuple(entries), last)


async def _scan_events(store: RedisStore, tenant: str, wanted: set[str]) -> tuple[list[str], str]:
    """Ids of the stream's entries naming an interaction of `wanted`, and the last entry id
    seen; the stream is read in pages, so Redis is never held for long."""
    key, start, last = store.keys.events(tenant), "-", ""
    found: list[str] = []
    while True:
        pipe = store.redis.pipeline(transaction=False)
        pipe.xrange(key, start, "+", SCAN_PAGE)
        (page,) = await store.round_trip("read", pipe.execute(raise_on_error=False))
        if isinstance(page, Exception):
            log.warning("event stream key of the wrong type", extra={"tenant": tenant})
            return found, last
        for entry_id, fields in page:
            last = entry_id.decode()
            try:
                if codec.event_interaction(fields[b"e"]) in wanted:
                    found.append(last)
            except Exception:  # an entry of something else's: not ours to judge
                continue
        if len(page) < SCAN_PAGE:
            return found, last
        start = "(" + last


async def read_customer_view(store: RedisStore, tenant: str, customer_id: str) -> CustomerView:
    """The customer's record, then the records their index lists, read by id in chunks."""
    k = store.keys
    pipe = store.redis.pipeline(transaction=False)
    pipe.hgetall(k.customer_fields(tenant, customer_id))
    pipe.get(k.customer(tenant, customer_id))
    pipe.smembers(k.customer_interactions(tenant, customer_id))
    fields, data, members = await store.round_trip("read", pipe.execute(raise_on_error=False))
    own = None if isinstance(fields, Exception) else fields.get(b"")
    record = customer_or_none(tenant, customer_id, own, data)
    ids = _ids(tenant, fields, members)
    found: list[InteractionRecord] = []
    for start in range(0, len(ids), VIEW_CHUNK):
        chunk = ids[start : start + VIEW_CHUNK]
        values = await store.round_trip(
            "read", store.redis.mget([k.interaction(tenant, i) for i in chunk])
        )
        for iid, value in zip(chunk, values, strict=True):
            rec = None if value is None else interaction_or_none(value, tenant, iid)
            if rec is not None and rec.interaction.customer_id == customer_id:
                found.append(rec)
    return CustomerView(record, tuple(found))
