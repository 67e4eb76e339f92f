"""The access check with authentication on (`serve --auth`): an API key
(`authorization: Bearer cimk_...`) or, failing one, a mapped client certificate.

In order, before the call reads anything: who calls (UNAUTHENTICATED: no credential, a
malformed one, an unknown or revoked key); whether the role has the RPC, the key the
tenant and, for an agent key, the agent (PERMISSION_DENIED, the same message whether or not
the target exists); the key's request rate (RESOURCE_EXHAUSTED); and that the tenant was
created (NOT_FOUND), so that a request for any other creates nothing.

Key records and tenants' existence are cached for at most `cache_seconds` (1 s): a key
created or revoked in Redis (by `cim-router keys`) takes effect within that on a running
server, without a restart."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import grpc

from cim_router.service.auth.certs import CertMap
from cim_router.service.auth.principal import ALL_TENANTS, Principal, Role
from cim_router.service.auth.quotas import KeyQuota
from cim_router.service.auth.roles import (
    AGENT_BOUND,
    OPERATOR_ONLY,
    TENANT_RPCS,
    allowed,
)
from cim_router.store.apikeys import ApiKey, parse_token, read_key
from cim_router.store.keys import Keys
from cim_router.store.provisioning import is_provisioned
from cim_router.tenant.errors import NotFound, PermissionDenied, Unauthenticated, Unavailable

AUTH_HEADER = "authorization"
CACHE_SECONDS = 1.0
CACHE_MAX = 10_000  # entries; past it the cache starts over
REDIS_FAILURES: tuple[type[BaseException], ...] = (OSError, TimeoutError)

Context = grpc.aio.ServicerContext[Any, Any]

try:  # redis's errors, when the client is redis-py's
    from redis.exceptions import RedisError

    REDIS_FAILURES = (*REDIS_FAILURES, RedisError)
except ImportError:  # pragma: no cover - redis is a dependency
    pass


class KeyAccess:
    """`Access` by API keys stored in Redis (and, optionally, client certificates)."""

    def __init__(
        self,
        redis: Any,
        keys: Keys,
        *,
        certs: CertMap | None = None,
        cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.certs = certs
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._records: dict[str, tuple[ApiKey | None, float]] = {}
        self._tenants: dict[str, tuple[bool, float]] = {}
        self._quotas: dict[str, KeyQuota] = {}

    # --- the check ------------------------------------------------------------------------

    async def check(self, method: str, request: Any, tenant: str, context: Context) -> Principal:
        principal = await self.authenticate(context)
        authorize(principal, method, request, tenant)
        if principal.quota is not None:
            principal.quota.take()
        if method in TENANT_RPCS or (method == "ListAudit" and tenant == ALL_TENANTS):
            return principal
        if not await self.provisioned(tenant):
            raise NotFound(f"tenant {tenant!r} not found")
        return principal

    async def authenticate(self, context: Context) -> Principal:
        tokens = [v for k, v in context.invocation_metadata() or () if k == AUTH_HEADER]
        if len(tokens) > 1:
            raise Unauthenticated("authorization: given more than once")
        if tokens:
            return await self._by_key(tokens[0])
        if self.certs is not None:
            entry = self.certs.find(_auth_context(context))
            if entry is not None:
                return entry.principal()
        raise Unauthenticated("missing credentials: send authorization: Bearer <key>")

    async def _by_key(self, value: str | bytes) -> Principal:
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        scheme, _, token = text.partition(" ")
        parsed = parse_token(token.strip()) if scheme.lower() == "bearer" else None
        if parsed is None:
            raise Unauthenticated("authorization: expected Bearer cimk_<id>_<secret>")
        key_id, secret = parsed
        record = await self._record(key_id)
        # One answer for an unknown id, a wrong secret and a revoked key.
        if record is None or not record.matches(secret) or record.revoked:
            raise Unauthenticated("invalid or revoked API key")
        try:
            role = Role(record.role)
        except ValueError:
            raise Unauthenticated("invalid or revoked API key") from None
        return Principal(
            caller=record.key_id,
            role=role,
            tenant=record.tenant,
            agent_id=record.agent_id,
            quota=self._quota(record),
        )

    # --- caches ---------------------------------------------------------------------------

    async def _record(self, key_id: str) -> ApiKey | None:
        now = self.clock()
        cached = self._records.get(key_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            record = await read_key(self.redis, self.keys, key_id)
        except REDIS_FAILURES as exc:
            raise Unavailable("store unavailable: cannot check the API key") from exc
        if len(self._records) >= CACHE_MAX:
            self._records.clear()
        self._records[key_id] = (record, now + self.cache_seconds)
        return record

    def _quota(self, record: ApiKey) -> KeyQuota:
        q = record.quotas
        quota = self._quotas.get(record.key_id)
        if quota is None:
            if len(self._quotas) >= CACHE_MAX:
                self._quotas = {k: v for k, v in self._quotas.items() if _busy(v)}
            quota = KeyQuota(q.rate, q.burst, q.max_watch_streams, q.max_waiting_assigns)
            self._quotas[record.key_id] = quota
        else:
            quota.configure(q.rate, q.burst, q.max_watch_streams, q.max_waiting_assigns)
        return quota

    async def provisioned(self, tenant: str) -> bool:
        now = self.clock()
        cached = self._tenants.get(tenant)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            found = await is_provisioned(self.redis, self.keys, tenant)
        except REDIS_FAILURES as exc:
            raise Unavailable("store unavailable: cannot check the tenant") from exc
        if len(self._tenants) >= CACHE_MAX:
            self._tenants.clear()
        self._tenants[tenant] = (found, now + self.cache_seconds)
        return found

    def quota_of(self, key_id: str) -> KeyQuota | None:
        """The live counts of a key that has made a call to this server."""
        return self._quotas.get(key_id)

    def tenant_changed(self, tenant: str) -> None:
        """This server created or deleted the tenant: look again at the next call."""
        self._tenants.pop(tenant, None)

    def keys_changed(self, key_ids: Iterable[str]) -> None:
        for key_id in key_ids:
            self._records.pop(key_id, None)


def authorize(principal: Principal, method: str, request: Any, tenant: str) -> None:
    """Whether this caller may make this call here; the same refusal whether or not what
    it names exists (nothing has been looked up yet)."""
    if not allowed(principal.role, method):
        raise PermissionDenied(
            f"role {principal.role.value} may not call {method}", principal.caller
        )
    if method in TENANT_RPCS:
        if method in OPERATOR_ONLY and principal.tenant != ALL_TENANTS:
            raise PermissionDenied(f"only an operator's key may call {method}", principal.caller)
        if method != "ListTenants" and not principal.may_use(request.tenant_id):
            raise PermissionDenied("this key is bound to another tenant", principal.caller)
    elif not principal.may_use(tenant):
        raise PermissionDenied("this key is bound to another tenant", principal.caller)
    if (
        principal.role is Role.AGENT
        and method in AGENT_BOUND
        and not _names_own_agent(method, request, principal.agent_id)
    ):
        raise PermissionDenied(
            f"an agent key may call {method} for its own agent_id only", principal.caller
        )


def _names_own_agent(method: str, request: Any, agent_id: str) -> bool:
    if method == "WatchAssignments":
        return set(request.agent_ids) == {agent_id}
    if method == "Assign" and request.WhichOneof("target") != "agent_id":
        return False
    return bool(agent_id) and request.agent_id == agent_id


def _busy(quota: KeyQuota) -> bool:
    return bool(quota.watch_streams or quota.waiting_assigns)


def _auth_context(context: Context) -> dict[str, Iterable[bytes]]:
    found: dict[str, Iterable[bytes]] = dict(context.auth_context())
    return found
