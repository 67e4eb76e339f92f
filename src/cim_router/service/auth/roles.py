"""The roles: each a fixed set of RPCs (docs/security.md, "## Roles", is this table).

An agent key acts for its one agent only: the calls in AGENT_BOUND must name that agent in
their `agent_id` field (Assign by `agent_id`; WatchAssignments with exactly that agent).
Only an operator's key (bound to every tenant) may create tenants."""

from __future__ import annotations

from cim_router.service.auth.principal import Role

READS = frozenset({"GetInteraction", "GetAgent", "ListAgents", "Explain", "GetStats"})
# Queues and the open interactions in them; a viewer sees context keys, never values.
QUEUE_READS = frozenset({"GetQueue", "ListQueues", "ListInteractions"})
# Whoever reads the tenant's interactions reads its event stream and its customers' views.
INTERACTION_READS = frozenset({"WatchEvents", "GetCustomer"})
# What an agent's desktop does; a chat platform acting for its agents needs the same.
AGENT_WORK = frozenset(
    {"Accept", "Reject", "Complete", "Assign", "WatchAssignments", "Hold", "Resume"}
)

# Any key may open a Session; each call on it is checked as the unary call it is.
SESSION = frozenset({"Session"})

ROUTER_RPCS = frozenset(
    {
        "Enqueue",
        "Transfer",
        "Escalate",
        "Cancel",
        "CancelTransfer",
        "UpdateContext",
        "ForgetCustomer",
        "RequestCallback",
        "SubmitFeedback",
    }
    | READS
    | QUEUE_READS
    | AGENT_WORK
    | INTERACTION_READS
    | SESSION
)
ADMIN_RPCS = ROUTER_RPCS | frozenset(
    {
        "UpsertAgent",
        "SetAgentState",
        "RemoveAgent",
        "CreateTenant",
        "ListTenants",
        "DeleteTenant",
        "ListAudit",
        "UpsertQueue",
        "RemoveQueue",
    }
)
AGENT_RPCS = AGENT_WORK | SESSION | frozenset({"SetAgentState", "GetAgent"})
VIEWER_RPCS = frozenset({"GetStats", "ListAgents", "Explain", "GetAgent"}) | QUEUE_READS | SESSION

ROLES: dict[Role, frozenset[str]] = {
    Role.ADMIN: ADMIN_RPCS,
    Role.ROUTER: ROUTER_RPCS,
    Role.AGENT: AGENT_RPCS,
    Role.VIEWER: VIEWER_RPCS,
}

# Calls an agent key may make for its own agent only (the request's agent_id field).
AGENT_BOUND = AGENT_RPCS - SESSION

# Calls naming their tenant in the request (tenant_id), not in x-cim-tenant.
TENANT_RPCS = frozenset({"CreateTenant", "ListTenants", "DeleteTenant"})
OPERATOR_ONLY = frozenset({"CreateTenant"})


def allowed(role: Role, method: str) -> bool:
    return method in ROLES[role]
