"""The audit trail on a live server with --auth: admin actions and refusals of them name the
caller by its key id, never the key; no context value or free-text reason gets in; ListAudit
pages it newest first; the server's logs hold no key either."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import redis
from google.protobuf import struct_pb2

from cim_router._pb import router_pb2 as pb
from cim_router.store.keys import Keys
from tests.redis_server import drop_prefix
from tests.service.auth_support import (
    PERMISSION_DENIED,
    AuthServer,
    Caller,
    key_id,
    provision,
    serving,
)
from tests.service.conftest import start_server

AVAILABLE = pb.AGENT_STATE_AVAILABLE
REASON = "private-reason-7731"
CONTEXT_VALUE = "card-4111-1111"


@pytest.fixture
def server() -> Iterator[AuthServer]:
    yield from serving()


def _trail(caller: Caller, page_size: int = 0) -> list[pb.AuditEntry]:
    entries: list[pb.AuditEntry] = []
    token = ""
    while True:
        page = caller.ok("ListAudit", pb.ListAuditRequest(page_size=page_size, page_token=token))
        entries.extend(page.entries)
        token = page.next_page_token
        if not token:
            return entries


def _raw_streams(server: AuthServer) -> bytes:
    r = server.redis()
    try:
        found = b""
        for name in r.scan_iter(match=f"{server.prefix}:*"):
            if r.type(name) == b"stream":
                found += repr(r.xrange(name)).encode()
        return found
    finally:
        r.close()


def _secret_forms(token: str) -> list[str]:
    secret = token.split("_", 2)[2]
    return [token, secret, hashlib.sha256(secret.encode()).hexdigest()]


def test_admin_actions_and_refusals_name_the_key_id_and_never_the_key(
    server: AuthServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    provision(server, "acme")
    admin_token = server.new_key("acme", "admin")
    viewer_token = server.new_key("acme", "viewer")
    agent_token = server.new_key("acme", "agent", "--agent-id", "a1")
    admin, viewer, agent = (server.caller(t) for t in (admin_token, viewer_token, agent_token))
    admin.ok("UpsertAgent", pb.UpsertAgentRequest(agent_id="a1", state=AVAILABLE))
    admin.ok(
        "SetAgentState",
        pb.SetAgentStateRequest(agent_id="a1", state=pb.AGENT_STATE_NOT_READY, reason=REASON),
    )
    code, _ = admin.call("RemoveAgent", pb.RemoveAgentRequest(agent_id="nobody"))
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = viewer.call("UpsertAgent", pb.UpsertAgentRequest(agent_id="a9"))
    assert code == PERMISSION_DENIED
    agent.ok("SetAgentState", pb.SetAgentStateRequest(agent_id="a1", state=AVAILABLE))
    context = struct_pb2.Struct()
    context.update({"card": CONTEXT_VALUE})
    admin.ok(
        "Enqueue", pb.EnqueueRequest(interaction_id="i1", channel=pb.CHANNEL_CHAT, context=context)
    )
    server.caller("cimk_0000000000000000_" + "x" * 43).call(
        "UpsertAgent", pb.UpsertAgentRequest(agent_id="a1")
    )
    entries = _trail(admin)
    got = [(e.caller, e.action, e.target, e.outcome) for e in entries]
    admin_id, viewer_id = key_id(admin_token), key_id(viewer_token)
    assert got[:4] == [
        (viewer_id, "UpsertAgent", "a9", "PERMISSION_DENIED"),
        (admin_id, "RemoveAgent", "nobody", "NOT_FOUND"),
        (admin_id, "SetAgentState", "a1", "ok"),
        (admin_id, "UpsertAgent", "a1", "ok"),
    ]
    # The keys' creation, by the CLI under the OS user, and the tenant's; the agent's own
    # state change and the call of nobody are not admin actions on record.
    rest = got[4:]
    assert rest[-1] == (key_id(server.tokens["operator"]), "CreateTenant", "acme", "ok")
    assert {(a, t) for _, a, t, _ in rest[:-1]} == {
        ("keys.create", key_id(t)) for t in (admin_token, viewer_token, agent_token)
    }
    assert all(c.startswith("cli") for c, _, _, _ in rest[:-1])
    times = [e.time.ToNanoseconds() for e in entries]
    assert times == sorted(times, reverse=True) and times[0] > 0
    raw = _raw_streams(server)
    logs = caplog.text
    assert admin_id.encode() in raw
    for token in (admin_token, viewer_token, agent_token):
        for form in _secret_forms(token):
            assert form.encode() not in raw and form not in logs
    trails = _audit_only(server)
    assert b"SetAgentState" in trails
    for private in (REASON, CONTEXT_VALUE):
        assert private.encode() not in trails and private not in logs


def _audit_only(server: AuthServer) -> bytes:
    r = server.redis()
    try:
        found = b""
        for name in r.scan_iter(match=f"{server.prefix}:*audit"):
            found += repr(r.xrange(name)).encode()
        return found
    finally:
        r.close()


def test_list_audit_pages_newest_first_and_checks_its_arguments(server: AuthServer) -> None:
    operator = provision(server, "acme")
    admin = server.caller(server.new_key("acme", "admin"))
    for n in range(5):
        admin.ok("UpsertAgent", pb.UpsertAgentRequest(agent_id=f"a{n}"))
    first = admin.ok("ListAudit", pb.ListAuditRequest(page_size=2))
    assert [e.target for e in first.entries] == ["a4", "a3"] and first.next_page_token
    paged = _trail(admin, page_size=2)
    whole = _trail(admin)
    assert [e.target for e in paged] == [e.target for e in whole]
    assert [e.target for e in whole][:5] == ["a4", "a3", "a2", "a1", "a0"]
    for bad in (pb.ListAuditRequest(page_size=1001), pb.ListAuditRequest(page_token="zzz")):
        code, details = admin.call("ListAudit", bad)
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert details.split(":")[0] in ("page_size", "page_token")
    # Another tenant's admin reads its own trail only; a router key may not read any.
    other: Any = server.caller(operator).ok("CreateTenant", pb.CreateTenantRequest(tenant_id="b"))
    assert other.tenant_id == "b"
    b_admin = server.caller(server.new_key("b", "admin"), "b")
    assert all(e.target != "a4" for e in _trail(b_admin))
    router = server.caller(server.new_key("acme", "router"))
    assert router.call("ListAudit", pb.ListAuditRequest())[0] == PERMISSION_DENIED
    assert server.caller(operator, "default").call("ListAudit", pb.ListAuditRequest())[0] == (
        grpc.StatusCode.NOT_FOUND  # "default" was never created
    )


def test_tenant_actions_go_to_the_trails_that_outlive_them(server: AuthServer) -> None:
    operator = provision(server, "acme")
    ops = server.caller(operator, "*")
    acme_admin_token = server.new_key("acme", "admin")
    server.caller(acme_admin_token).ok("DeleteTenant", pb.DeleteTenantRequest(tenant_id="acme"))
    code, _ = ops.call("DeleteTenant", pb.DeleteTenantRequest(tenant_id="acme"))
    assert code == grpc.StatusCode.NOT_FOUND
    got = [(e.caller, e.action, e.target, e.outcome) for e in _trail(ops)]
    assert got[:2] == [
        (key_id(operator), "DeleteTenant", "acme", "NOT_FOUND"),
        (key_id(acme_admin_token), "DeleteTenant", "acme", "ok"),
    ]
    assert (key_id(operator), "CreateTenant", "acme", "ok") not in got  # in acme's, erased
    assert ("keys.create", key_id(operator)) in {(a, t) for _, a, t, _ in got}
    operator_viewer = server.caller(server.new_key("*", "viewer"), "*")
    assert operator_viewer.call("ListAudit", pb.ListAuditRequest())[0] == PERMISSION_DENIED
    server.caller(operator).ok("CreateTenant", pb.CreateTenantRequest(tenant_id="acme"))
    fresh = server.caller(server.new_key("acme", "admin"))
    assert [(e.action, e.target) for e in _trail(fresh)][-1] == ("CreateTenant", "acme")


def test_without_auth_agent_changes_are_recorded_by_nobody_and_states_not_at_all() -> None:
    running = start_server()
    try:
        client = running.client("t1")
        client.agent("a1")
        client.SetAgentState(pb.SetAgentStateRequest(agent_id="a1", state=pb.AGENT_STATE_OFFLINE))
        with pytest.raises(grpc.RpcError) as refused:
            client.RemoveAgent(pb.RemoveAgentRequest(agent_id="nobody"))
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND
        page = client.ListAudit(pb.ListAuditRequest())
        got = [(e.caller, e.action, e.target, e.outcome) for e in page.entries]
        assert got == [("", "RemoveAgent", "nobody", "NOT_FOUND"), ("", "UpsertAgent", "a1", "ok")]
        assert not client.ListAudit(pb.ListAuditRequest(page_size=2)).next_page_token
    finally:
        running.stop()
        drop_prefix(running.settings.prefix)


def test_an_audit_entry_that_cannot_be_written_leaves_the_answer_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    running = start_server()
    try:
        client = running.client("t1")
        client.agent("a0")
        r = redis.Redis.from_url(running.settings.url)
        try:  # the trail's key holds a string: XADD fails there
            r.delete(Keys(running.settings.prefix).audit("t1"))
            r.set(Keys(running.settings.prefix).audit("t1"), "not a stream")
        finally:
            r.close()
        assert client.agent("a1").id == "a1"
        assert client.get_agent("a1").id == "a1"
        assert "audit entry not written" in caplog.text
    finally:
        running.stop()
        drop_prefix(running.settings.prefix)


def test_an_erasure_is_on_record_with_who_asked_and_never_whom(server: AuthServer) -> None:
    provision(server, "acme")
    router_token = server.new_key("acme", "router")
    router, admin = server.caller(router_token), server.caller(server.new_key("acme", "admin"))
    customer = "jane.doe@example.com"
    router.ok(
        "Enqueue",
        pb.EnqueueRequest(interaction_id="i1", customer_id=customer, channel=pb.CHANNEL_CHAT),
    )
    erased = router.ok("ForgetCustomer", pb.ForgetCustomerRequest(customer_id=customer))
    assert list(erased.interaction_ids) == ["i1"]
    newest = _trail(admin)[0]
    assert (newest.caller, newest.action, newest.target, newest.outcome) == (
        key_id(router_token),
        "ForgetCustomer",
        "",
        "ok",
    )
    assert customer.encode() not in _audit_only(server)


def test_queue_changes_and_refusals_are_on_record_naming_the_queue(server: AuthServer) -> None:
    provision(server, "acme")
    admin_token = server.new_key("acme", "admin")
    admin = server.caller(admin_token)
    viewer = server.caller(server.new_key("acme", "viewer"))
    admin.ok("UpsertQueue", pb.UpsertQueueRequest(queue=pb.Queue(id="billing")))
    code, _ = viewer.call("UpsertQueue", pb.UpsertQueueRequest(queue=pb.Queue(id="sales")))
    assert code == PERMISSION_DENIED
    code, _ = admin.call("RemoveQueue", pb.RemoveQueueRequest(queue_id="default"))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    admin.ok("RemoveQueue", pb.RemoveQueueRequest(queue_id="billing"))
    found = [(e.action, e.target, e.outcome) for e in _trail(admin) if "Queue" in e.action]
    assert found == [
        ("RemoveQueue", "billing", "ok"),
        ("RemoveQueue", "default", "FAILED_PRECONDITION"),
        ("UpsertQueue", "sales", "PERMISSION_DENIED"),
        ("UpsertQueue", "billing", "ok"),
    ]
    assert all(e.caller for e in _trail(admin) if "Queue" in e.action)
