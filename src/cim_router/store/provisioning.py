"""Provisioned tenants: the creation records CreateTenant writes (`Keys.provisioned`), and the
erasure of everything a tenant holds in Redis when it is deleted."""

from __future__ import annotations

import json
from typing import Any

from cim_router.store.apikeys import delete_tenant_keys
from cim_router.store.keys import Keys

SCAN_COUNT = 1000


async def create_tenant(redis: Any, keys: Keys, tenant: str, now: float) -> bool:
    """Record the tenant as created at `now`; False if it already was (nothing written)."""
    record = json.dumps({"created_at": now})
    return bool(await redis.hsetnx(keys.provisioned(), tenant, record))


async def is_provisioned(redis: Any, keys: Keys, tenant: str) -> bool:
    return bool(await redis.hexists(keys.provisioned(), tenant))


async def provisioned_tenants(redis: Any, keys: Keys) -> dict[str, float]:
    """Every created tenant with its creation time (0.0 if the record does not decode)."""
    rows = await redis.hgetall(keys.provisioned())
    found: dict[str, float] = {}
    for raw_tenant, raw in rows.items():
        tenant = raw_tenant.decode() if isinstance(raw_tenant, bytes) else str(raw_tenant)
        try:
            found[tenant] = float(json.loads(raw)["created_at"])
        except (ValueError, KeyError, TypeError):
            found[tenant] = 0.0
    return found


async def erase_tenant(redis: Any, keys: Keys, tenant: str) -> int:
    """Delete every key of the tenant (agents, interactions, history, customers, counters,
    request outcomes, streams, its audit trail), its place in the tenant set, its creation
    record and the API keys bound to it. Returns how many Redis keys went."""
    deleted = 0
    batch: list[Any] = []
    async for name in redis.scan_iter(match=keys.tenant_pattern(tenant), count=SCAN_COUNT):
        batch.append(name)
        if len(batch) >= SCAN_COUNT:
            deleted += int(await redis.delete(*batch))
            batch.clear()
    if batch:
        deleted += int(await redis.delete(*batch))
    await redis.srem(keys.tenants(), tenant)
    await redis.hdel(keys.provisioned(), tenant)
    await delete_tenant_keys(redis, keys, tenant)
    return deleted
