"""Administration the servicer delegates: provisioned tenants (create, list, delete) and the
audit trail (append, page). Needs the Redis the store writes to."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from cim_router.domain.limits import DEFAULT_AUDIT_PAGE_SIZE, MAX_PAGE_SIZE, MAX_PAGE_TOKEN_LENGTH
from cim_router.service import convert
from cim_router.service.auth.principal import Principal
from cim_router.store import apikeys, audit, provisioning
from cim_router.store.keys import Keys
from cim_router.tenant.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    ServiceError,
    Unavailable,
)
from cim_router.tenant.registry import Tenants

log = logging.getLogger(__name__)

_ENTRY_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")

try:
    from redis.exceptions import RedisError
except ImportError:  # pragma: no cover - redis is a dependency
    RedisError = OSError  # type: ignore[misc,assignment]

FAILURES = (RedisError, OSError, TimeoutError)


@dataclass(frozen=True)
class TenantInfo:
    tenant_id: str
    created_at: float  # 0.0: a tenant that exists by its first write (authentication off)


class Admin:
    def __init__(self, tenants: Tenants, redis: Any, keys: Keys, access: Any) -> None:
        self.tenants = tenants
        self.redis = redis
        self.keys = keys
        self.access = access  # told of tenants and keys that changed, if it caches them

    async def create_tenant(self, tenant: str) -> TenantInfo:
        convert.require_id("tenant_id", tenant)
        now = self.tenants.clock()
        try:
            created = await provisioning.create_tenant(self.redis, self.keys, tenant, now)
        except FAILURES as exc:
            raise Unavailable("store unavailable: redis is unreachable") from exc
        if not created:
            raise AlreadyExists(f"tenant {tenant!r} already exists")
        self._changed(tenant, [])
        return TenantInfo(tenant, now)

    async def list_tenants(self, principal: Principal) -> list[TenantInfo]:
        """The tenants the caller may see: created ones, and (authentication off) those
        that exist by their first write."""
        try:
            found = await provisioning.provisioned_tenants(self.redis, self.keys)
            stored = await self.tenants.store.tenants()
        except FAILURES as exc:
            raise Unavailable("store unavailable: redis is unreachable") from exc
        for tenant in stored:
            found.setdefault(tenant, 0.0)
        return [TenantInfo(t, at) for t, at in sorted(found.items()) if principal.may_use(t)]

    async def delete_tenant(self, tenant: str) -> None:
        """Erase the tenant: out of this server first (its router, streams, timers), then
        every key it has in Redis and the API keys bound to it."""
        convert.require_id("tenant_id", tenant)
        try:
            known = await provisioning.is_provisioned(self.redis, self.keys, tenant)
            known = known or tenant in await self.tenants.store.tenants()
        except FAILURES as exc:
            raise Unavailable("store unavailable: redis is unreachable") from exc
        if not known and self.tenants.find(tenant) is None:
            raise NotFound(f"tenant {tenant!r} not found")
        try:
            # Not created any more first: with authentication on, no new call gets in.
            await self.redis.hdel(self.keys.provisioned(), tenant)
        except FAILURES as exc:
            raise Unavailable("store unavailable: redis is unreachable") from exc
        self._changed(tenant, [])
        self.tenants.remove(tenant)
        store = self.tenants.store
        await store.durable(store.submitted)  # what it wrote before lands before the erasure
        try:
            listed = await apikeys.list_keys(self.redis, self.keys)
            gone_keys = [k.key_id for k in listed if k.tenant == tenant]
            await provisioning.erase_tenant(self.redis, self.keys, tenant)
        except FAILURES as exc:
            raise Unavailable("store unavailable: the tenant is partly erased; retry") from exc
        self._changed(tenant, gone_keys)

    def _changed(self, tenant: str, key_ids: list[str]) -> None:
        for name, arg in (("tenant_changed", tenant), ("keys_changed", key_ids)):
            hook = getattr(self.access, name, None)
            if hook is not None:
                hook(arg)

    async def known(self, tenant: str) -> bool:
        """Whether the tenant exists (in this server, or created): its audit trail may be
        written without creating anything for a tenant that is not there."""
        if self.tenants.find(tenant) is not None:
            return True
        return await provisioning.is_provisioned(self.redis, self.keys, tenant)

    # --- the audit trail ------------------------------------------------------------------

    async def record(
        self, tenant: str | None, caller: str, action: str, target: str, outcome: str
    ) -> None:
        """Append an audit entry to the tenant's trail (or the operators' one for a tenant
        that does not exist); a failure to do so is logged, and the call's answer stands."""
        try:
            if tenant is not None and not await self.known(tenant):
                tenant = None
            await audit.append_audit(
                self.redis,
                self.keys,
                tenant,
                caller=caller,
                action=action,
                target=target,
                outcome=outcome,
            )
        except (*FAILURES, ServiceError):  # the store is down, or taken over
            log.warning("audit entry not written", extra={"action": action, "outcome": outcome})

    async def list_audit(
        self, tenant: str | None, page_size: int, page_token: str
    ) -> tuple[list[audit.AuditEntry], str]:
        """A page of the tenant's trail (None: the operators'), newest first."""
        size = audit_page_size(page_size)
        before = "+"
        if page_token:
            if len(page_token) > MAX_PAGE_TOKEN_LENGTH or not _ENTRY_ID.fullmatch(page_token):
                raise InvalidArgument("page_token", "is not a next_page_token this service gave")
            before = "(" + page_token
        try:
            rows = await audit.read_audit(
                self.redis, self.keys, tenant, count=size + 1, before=before
            )
        except FAILURES as exc:
            raise Unavailable("store unavailable: redis is unreachable") from exc
        more = len(rows) > size
        rows = rows[:size]
        return rows, rows[-1].entry_id if more and rows else ""


def audit_page_size(value: int) -> int:
    if value == 0:
        return DEFAULT_AUDIT_PAGE_SIZE
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise InvalidArgument(
            "page_size",
            f"must be 1..{MAX_PAGE_SIZE} (0 means {DEFAULT_AUDIT_PAGE_SIZE}), got {value}",
        )
    return value
