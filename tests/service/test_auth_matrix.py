"""Who may call what, on a live server with --auth: every RPC of the descriptor, called with a
key of every role, with no key, a malformed key, a key of another tenant, a revoked key and
an agent key for another agent. Each answer is checked against the roles table of
docs/security.md: an allowed call is neither UNAUTHENTICATED nor PERMISSION_DENIED; a refused
one gets exactly the documented code, and nothing in Redis changes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2

from cim_router._pb import router_pb2 as pb
from cim_router.service.auth.principal import Role
from cim_router.service.auth.roles import AGENT_BOUND, OPERATOR_ONLY, ROLES
from tests.service.auth_support import (
    PERMISSION_DENIED,
    SERVICE,
    UNAUTHENTICATED,
    AuthServer,
    doc_table,
    provision,
    start_auth_server,
)

METHODS = [m.name for m in SERVICE.methods]
TABLE = doc_table()

# A request for each RPC, in tenant acme, naming agent a1 (the agent key's) and interaction i1.
REQUESTS: dict[str, Any] = {
    "UpsertAgent": pb.UpsertAgentRequest(agent_id="a1", state=pb.AGENT_STATE_AVAILABLE),
    "SetAgentState": pb.SetAgentStateRequest(agent_id="a1", state=pb.AGENT_STATE_NOT_READY),
    "GetAgent": pb.GetAgentRequest(agent_id="a1"),
    "ListAgents": pb.ListAgentsRequest(),
    "RemoveAgent": pb.RemoveAgentRequest(agent_id="a2"),
    "Enqueue": pb.EnqueueRequest(interaction_id="i9", channel=pb.CHANNEL_CHAT),
    "Assign": pb.AssignRequest(agent_id="a1"),
    "WatchAssignments": pb.WatchAssignmentsRequest(agent_ids=["a1"]),
    "Accept": pb.AcceptRequest(interaction_id="i1", agent_id="a1"),
    "Reject": pb.RejectRequest(interaction_id="i1", agent_id="a1"),
    "Complete": pb.CompleteRequest(interaction_id="i1", agent_id="a1"),
    "Cancel": pb.CancelRequest(interaction_id="i1"),
    "Transfer": pb.TransferRequest(interaction_id="i1", agent_id="a2"),
    "Escalate": pb.EscalateRequest(interaction_id="i1"),
    "CancelTransfer": pb.CancelTransferRequest(interaction_id="i1"),
    "GetInteraction": pb.GetInteractionRequest(interaction_id="i1"),
    "UpdateContext": pb.UpdateContextRequest(
        interaction_id="i1",
        context=struct_pb2.Struct(fields={"x": struct_pb2.Value(number_value=1)}),
    ),
    "Explain": pb.ExplainRequest(interaction_id="i1"),
    "GetStats": pb.GetStatsRequest(),
    "ForgetCustomer": pb.ForgetCustomerRequest(customer_id="c1"),
    "CreateTenant": pb.CreateTenantRequest(tenant_id="newco"),
    "ListTenants": pb.ListTenantsRequest(),
    "DeleteTenant": pb.DeleteTenantRequest(tenant_id="acme"),
    "ListAudit": pb.ListAuditRequest(),
    "UpsertQueue": pb.UpsertQueueRequest(queue=pb.Queue(id="billing")),
    "GetQueue": pb.GetQueueRequest(queue_id="default"),
    "ListQueues": pb.ListQueuesRequest(),
    "RemoveQueue": pb.RemoveQueueRequest(queue_id="billing"),
    "ListInteractions": pb.ListInteractionsRequest(),
    "RequestCallback": pb.RequestCallbackRequest(interaction_id="i1", address="+331"),
    "WatchEvents": pb.WatchEventsRequest(from_start=True),
    "GetCustomer": pb.GetCustomerRequest(customer_id="c1"),
    "Hold": pb.HoldRequest(interaction_id="i1", agent_id="a1"),
    "Resume": pb.ResumeRequest(interaction_id="i1", agent_id="a1"),
    "SubmitFeedback": pb.SubmitFeedbackRequest(interaction_id="i1", csat=4),
    # Every role may open a Session; its call is checked as that call (GetAgent: every
    # role may, an agent key for its own agent).
    "Session": pb.SessionRequest(correlation_id="c", get_agent=pb.GetAgentRequest(agent_id="a1")),
}

# Callers: name -> (how its key is made, or a fixed authorization value).
REFUSED_CALLERS = ("none", "malformed", "wrong-scheme", "revoked", "foreign", "agent-other")
ROLE_CALLERS = ("viewer", "agent", "router", "admin", "operator")  # operator last: it deletes


def expected(caller: str, method: str) -> grpc.StatusCode | None:
    """The documented answer: a refusal's code, or None for an allowed call."""
    if caller in ("none", "malformed", "wrong-scheme", "revoked"):
        return UNAUTHENTICATED
    if caller == "foreign":  # an admin key of tenant "other"; only ListTenants is tenant-free
        return None if method == "ListTenants" else PERMISSION_DENIED
    if caller == "agent-other":  # an agent key for a2, while every request names a1
        return PERMISSION_DENIED
    role = "admin" if caller == "operator" else caller
    cell = TABLE[method][role]
    if cell == "-" or (cell == "operator" and caller != "operator"):
        return PERMISSION_DENIED
    assert cell in ("yes", "own", "operator"), cell
    return None


def test_the_expectations_follow_roles_py_too() -> None:
    """The table the matrix reads is the code's (a second source, so neither drifts)."""
    for method in METHODS:
        for role in Role:
            allowed = expected(role.value, method) is None
            if method in OPERATOR_ONLY and role is Role.ADMIN:
                assert not allowed and expected("operator", method) is None
            else:
                assert allowed == (method in ROLES[role]), (method, role)
    assert ROLES[Role.AGENT] >= AGENT_BOUND


def _world(server: AuthServer) -> dict[str, str]:
    """Tenants acme and other; in acme agents a1, a2 and interaction i1 offered to one of
    them; a key for each caller."""
    operator = provision(server, "acme", "other")
    admin = server.caller(operator)
    admin.ok("UpsertAgent", pb.UpsertAgentRequest(agent_id="a1", state=pb.AGENT_STATE_AVAILABLE))
    admin.ok("UpsertAgent", pb.UpsertAgentRequest(agent_id="a2", state=pb.AGENT_STATE_AVAILABLE))
    admin.ok("Enqueue", pb.EnqueueRequest(interaction_id="i1", channel=pb.CHANNEL_CHAT))
    revoked = server.new_key("acme", "admin")
    server.revoke(revoked)
    return {
        "none": "",
        "malformed": "Bearer cimk_nothex_short",
        "wrong-scheme": "Basic " + server.new_key("acme", "admin"),
        "revoked": revoked,
        "foreign": server.new_key("other", "admin"),
        "agent-other": server.new_key("acme", "agent", "--agent-id", "a2"),
        "viewer": server.new_key("acme", "viewer"),
        "agent": server.new_key("acme", "agent", "--agent-id", "a1"),
        "router": server.new_key("acme", "router"),
        "admin": server.new_key("acme", "admin"),
        "operator": operator,
    }


@pytest.fixture(scope="module")
def fresh() -> Iterator[list[AuthServer]]:
    started: list[AuthServer] = []
    yield started
    for server in started:
        server.stop()


@pytest.mark.parametrize("method", METHODS)
def test_every_rpc_answers_every_caller_as_documented(method: str, fresh: list[AuthServer]) -> None:
    server = start_auth_server()
    fresh.append(server)
    keys = _world(server)
    request = REQUESTS[method]
    for caller in REFUSED_CALLERS + ROLE_CALLERS:
        want = expected(caller, method)
        token = keys[caller] or None
        before = server.stored() if want is not None else {}
        code, details = server.caller(token).call(method, request, timeout=1.0)
        where = f"{method} by {caller}: {code.name} {details!r}"
        if want is None:
            assert code not in (UNAUTHENTICATED, PERMISSION_DENIED), where
            continue
        assert code == want, where
        assert server.stored() == before, f"{where}: changed Redis"


def test_a_refusal_says_nothing_of_whether_the_target_exists() -> None:
    server = start_auth_server()
    try:
        keys = _world(server)
        for caller in ("agent-other", "foreign", "viewer"):
            seen = set()
            for agent in ("a1", "nobody"):
                request = pb.SetAgentStateRequest(agent_id=agent, state=pb.AGENT_STATE_OFFLINE)
                seen.add(server.caller(keys[caller]).call("SetAgentState", request))
            assert len(seen) == 1 and next(iter(seen))[0] == PERMISSION_DENIED, seen
        for tenant in ("acme", "ghost"):  # a key of another tenant: existing or not, the same
            code, details = server.caller(keys["foreign"], tenant).call(
                "GetStats", pb.GetStatsRequest()
            )
            assert (code, details) == (PERMISSION_DENIED, "this key is bound to another tenant")
        seen = {
            server.caller(keys["none"] or None).call(
                "GetInteraction", pb.GetInteractionRequest(interaction_id=iid)
            )
            for iid in ("i1", "nope")
        }
        assert len(seen) == 1 and next(iter(seen))[0] == UNAUTHENTICATED, seen
    finally:
        server.stop()


def test_an_agent_key_must_name_its_own_agent_in_every_form_of_a_call() -> None:
    server = start_auth_server()
    try:
        keys = _world(server)
        agent = server.caller(keys["agent"])
        refused = {
            "Complete": pb.CompleteRequest(interaction_id="i1"),  # agent_id left out
            "Assign": pb.AssignRequest(interaction_id="i1"),  # by interaction, not agent
            "WatchAssignments": pb.WatchAssignmentsRequest(),  # every agent
        }
        refused_too = pb.WatchAssignmentsRequest(agent_ids=["a1", "a2"])
        before = server.stored()
        for method, request in [*refused.items(), ("WatchAssignments", refused_too)]:
            code, details = agent.call(method, request, timeout=1.0)
            assert code == PERMISSION_DENIED, (method, code, details)
            assert "own agent_id only" in details
        assert server.stored() == before
        code, _ = agent.call("WatchAssignments", REQUESTS["WatchAssignments"], timeout=0.5)
        assert code == grpc.StatusCode.DEADLINE_EXCEEDED  # its own: the stream stays open
    finally:
        server.stop()
