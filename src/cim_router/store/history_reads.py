"""The Redis store's reads of an interaction's history: the entries its record holds once
closed (compact records, version 2), then those of its list, oldest first."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from cim_router.store import codec, compact
from cim_router.tenant.records import Event

if TYPE_CHECKING:
    from cim_router.store.redis_store import RedisStore

log = logging.getLogger(__name__)


def folded_entries(record: Any, tenant: str) -> list[bytes]:
    """The history entries a stored record holds (none for a record of another version, a
    missing one, or a read that failed on a key of the wrong type)."""
    if not isinstance(record, bytes):
        return []
    try:
        return compact.folded_history(record)
    except Exception:  # an undecodable record holds no history it can give
        log.warning("undecodable folded history left out", extra={"tenant": tenant})
        return []


async def read_history(store: RedisStore, tenant: str, interaction_id: str) -> list[Event]:
    k = store.keys
    pipe = store.redis.pipeline(transaction=False)
    pipe.get(k.interaction(tenant, interaction_id))
    pipe.lrange(k.history(tenant, interaction_id), 0, -1)
    record, listed = await store.round_trip("read", pipe.execute(raise_on_error=False))
    stored = folded_entries(record, tenant)
    if isinstance(listed, Exception):
        log.warning("history key of the wrong type", extra={"tenant": tenant})
    else:
        stored.extend(listed)
    events = []
    for data in stored[-store.settings.history_max :]:
        try:
            events.append(codec.history_event_in(data, interaction_id))
        except Exception:  # a bad entry must not hide the rest of the history
            log.warning("undecodable history event left out", extra={"tenant": tenant})
    return events
