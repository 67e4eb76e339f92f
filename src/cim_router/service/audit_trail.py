"""Which calls the server records in the audit trail, and what of them: the caller (a key
id or certificate subject), the RPC, its target (an agent or tenant id) and the outcome
("ok" or the refusal's status name). Never a key, a context value or a free-text reason."""

from __future__ import annotations

from typing import Any

from cim_router._pb import router_pb2 as pb
from cim_router.service.admin import Admin, TenantInfo
from cim_router.service.auth.principal import Principal, Role
from cim_router.service.responses import timestamp
from cim_router.store.audit import AuditEntry
from cim_router.tenant.errors import PermissionDenied, ServiceError

# UpsertAgent, RemoveAgent, tenants, erasures: always; SetAgentState only when an admin's key
# makes it (an agent's own state changes, and every change without authentication, are
# routine and in the events stream). An erasure's entry names no one: the customer id is
# what was erased, so the entry says who asked and when, and the tenant's trail where.
AUDITED = frozenset(
    {
        "UpsertAgent",
        "SetAgentState",
        "RemoveAgent",
        "CreateTenant",
        "DeleteTenant",
        "ForgetCustomer",
        "UpsertQueue",
        "RemoveQueue",
    }
)
ADMIN_ONLY_AUDIT = frozenset({"SetAgentState"})


async def record_call(
    admin: Admin | None,
    method: str,
    request: Any,
    tenant: str,
    principal: Principal | None,
    refused: ServiceError | None,
) -> None:
    """Record an audited call's outcome. A caller that could not be authenticated is not
    recorded (nobody to name); a refused check names the key it refused."""
    if admin is None or method not in AUDITED:
        return
    if principal is None:
        if not isinstance(refused, PermissionDenied) or not refused.caller:
            return
        caller, role = refused.caller, None
    else:
        caller, role = principal.caller, principal.role
    routine = role is not Role.ADMIN or not caller
    if method in ADMIN_ONLY_AUDIT and principal is not None and routine:
        return
    outcome = "ok" if refused is None else refused.code.name
    if method in ("CreateTenant", "DeleteTenant"):
        target = request.tenant_id
        # A deleted tenant's trail is erased with it: its deletion is the operators'.
        where: str | None = request.tenant_id if method == "CreateTenant" else None
    elif method == "ForgetCustomer":
        target, where = "", tenant
    elif method == "UpsertQueue":
        target, where = request.queue.id, tenant
    elif method == "RemoveQueue":
        target, where = request.queue_id, tenant
    else:
        target, where = request.agent_id, tenant
    await admin.record(where, caller, method, target, outcome)


def tenant_out(info: TenantInfo) -> pb.Tenant:
    return pb.Tenant(tenant_id=info.tenant_id, created_at=timestamp(info.created_at))


def audit_page_out(entries: list[AuditEntry], token: str) -> pb.ListAuditResponse:
    return pb.ListAuditResponse(
        entries=[
            pb.AuditEntry(
                time=timestamp(e.time_ms / 1000.0),
                caller=e.caller,
                action=e.action,
                target=e.target,
                outcome=e.outcome,
            )
            for e in entries
        ],
        next_page_token=token,
    )
