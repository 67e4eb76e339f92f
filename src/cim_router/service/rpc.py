"""How every RPC runs: the caller checked first, the call made on their behalf, refusals
reported with their status code (never INTERNAL for a client's mistake), admin actions
on the audit trail; and the tenant lookups the RPCs share."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from cim_router.domain.errors import ValidationError
from cim_router.service import convert
from cim_router.service.audit_trail import AUDITED, record_call
from cim_router.service.auth import Principal, current_principal
from cim_router.service.metadata import request_id_from_metadata, tenant_from_metadata
from cim_router.tenant.caller import acting_as
from cim_router.tenant.errors import Code, NotFound, ServiceError
from cim_router.tenant.records import RequestKey
from cim_router.tenant.registry import Tenants
from cim_router.tenant.router import TenantRouter

Req = TypeVar("Req")
Resp = TypeVar("Resp")
Context = grpc.aio.ServicerContext[Any, Any]
Handler = Callable[[Any, Req, Context], Awaitable[Resp]]


# The router's refusals as gRPC statuses: never INTERNAL or UNKNOWN for a client's mistake.
STATUS: dict[Code, grpc.StatusCode] = {code: grpc.StatusCode[code.name] for code in Code}


def refusal(exc: ServiceError | ValidationError) -> ServiceError:
    return convert.invalid(exc) if isinstance(exc, ValidationError) else exc


# Every checked method by name: the unary RPC and a Session's call run the same function.
CALLS: dict[str, Handler[Any, Any]] = {}


async def checked_call(
    self: Any, method: str, fn: Handler[Req, Resp], request: Req, context: Context
) -> Resp:
    """Check the caller first (who, and whether they may), run the call on their behalf;
    admin actions, and refusals of them, go to the audit trail. Refusals are raised."""
    principal: Principal | None = None
    tenant = tenant_of(context)
    audited = method in AUDITED
    try:
        principal = await self.access.check(method, request, tenant, context)
        token = current_principal.set(principal)
        try:
            with acting_as(principal.caller):
                answer = await fn(self, request, context)
        finally:
            current_principal.reset(token)
    except (ServiceError, ValidationError) as exc:
        if audited:
            await record_call(self.admin, method, request, tenant, principal, refusal(exc))
        raise
    if audited:
        await record_call(self.admin, method, request, tenant, principal, None)
    return answer


def rpc(fn: Handler[Req, Resp]) -> Handler[Req, Resp]:
    """A unary RPC: `checked_call`, with refusals reported with their status code; a
    client's mistake is never INTERNAL."""
    method = fn.__name__
    CALLS[method] = fn

    @functools.wraps(fn)
    async def wrapper(self: Any, request: Req, context: Context) -> Resp:
        try:
            return await checked_call(self, method, fn, request, context)
        except (ServiceError, ValidationError) as exc:
            err = refusal(exc)
            await context.abort(STATUS[err.code], err.message)
        raise AssertionError("unreachable")  # pragma: no cover - abort raises

    return wrapper


def tenant_of(context: Context) -> str:
    return tenant_from_metadata(context.invocation_metadata())


def request_key(context: Context, method: str, request: Any) -> RequestKey | None:
    request_id = request_id_from_metadata(context.invocation_metadata())
    return None if request_id is None else RequestKey(request_id, method, convert.digest(request))


class TenantLookups:
    """The tenant a call is for, as the RPCs find it."""

    tenants: Tenants

    def _reader(self, context: Context) -> TenantRouter | None:
        """The tenant's router for a read; None for a tenant that does not exist."""
        return self.tenants.find(tenant_of(context))

    def _found(self, context: Context, what: str) -> TenantRouter:
        router = self._reader(context)
        if router is None:
            raise NotFound(f"{what} not found")
        return router
