"""Provisioned tenants with --auth: only created tenants take requests, and a request for any
other creates nothing; CreateTenant, ListTenants and DeleteTenant, over gRPC and through
`cim-router tenants`; a deletion erases the tenant everywhere."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from cim_router._pb import router_pb2 as pb
from cim_router.client import AsyncRouterClient, RouterClient, RouterError
from tests.service.auth_support import (
    OK,
    PERMISSION_DENIED,
    UNAUTHENTICATED,
    AuthServer,
    provision,
    run_cli,
    serving,
    start_auth_server,
)
from tests.service.conftest import start_server, wait_for

AVAILABLE = pb.AGENT_STATE_AVAILABLE


@pytest.fixture
def server() -> Iterator[AuthServer]:
    yield from serving()


def _keys_of(server: AuthServer, tenant: str) -> list[bytes]:
    r = server.redis()
    try:
        return list(r.scan_iter(match=f"{server.prefix}:{{{tenant}}}:*"))
    finally:
        r.close()


def test_a_tenant_that_was_not_created_is_refused_and_nothing_is_created(
    server: AuthServer,
) -> None:
    operator = provision(server, "acme")
    bound = server.new_key("ghost", "admin")  # a key may name a tenant not created yet
    before = server.stored()
    for token in (operator, bound):
        caller = server.caller(token, "ghost")
        for method, request in (
            ("UpsertAgent", pb.UpsertAgentRequest(agent_id="a1", state=AVAILABLE)),
            ("Enqueue", pb.EnqueueRequest(interaction_id="i1", channel=pb.CHANNEL_CHAT)),
            ("GetStats", pb.GetStatsRequest()),
        ):
            code, details = caller.call(method, request)
            assert (code, details) == (grpc.StatusCode.NOT_FOUND, "tenant 'ghost' not found")
        code, _ = caller.call("WatchAssignments", pb.WatchAssignmentsRequest(), timeout=1.0)
        assert code == grpc.StatusCode.NOT_FOUND
    assert server.stored() == before
    assert _keys_of(server, "ghost") == []
    assert server.running.server.tenants.find("ghost") is None
    # Once created, the same key works.
    server.caller(operator).ok("CreateTenant", pb.CreateTenantRequest(tenant_id="ghost"))
    agent = server.caller(bound, "ghost").ok(
        "UpsertAgent", pb.UpsertAgentRequest(agent_id="a1", state=AVAILABLE)
    )
    assert agent.id == "a1"


def test_operators_create_tenants_and_a_tenant_admin_sees_only_its_own(
    server: AuthServer,
) -> None:
    operator = provision(server, "acme", "beta")
    acme_admin = server.caller(server.new_key("acme", "admin"))
    listed = server.caller(operator).ok("ListTenants", pb.ListTenantsRequest())
    assert [t.tenant_id for t in listed.tenants] == ["acme", "beta"]
    assert all(t.created_at.seconds > 0 for t in listed.tenants)
    mine = acme_admin.ok("ListTenants", pb.ListTenantsRequest())
    assert [t.tenant_id for t in mine.tenants] == ["acme"]
    code, _ = server.caller(operator).call("CreateTenant", pb.CreateTenantRequest(tenant_id="acme"))
    assert code == grpc.StatusCode.ALREADY_EXISTS
    code, _ = acme_admin.call("CreateTenant", pb.CreateTenantRequest(tenant_id="gamma"))
    assert code == PERMISSION_DENIED
    code, _ = acme_admin.call("DeleteTenant", pb.DeleteTenantRequest(tenant_id="beta"))
    assert code == PERMISSION_DENIED
    code, _ = server.caller(operator).call("CreateTenant", pb.CreateTenantRequest(tenant_id=""))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    names = server.caller(operator).ok("ListTenants", pb.ListTenantsRequest())
    assert [t.tenant_id for t in names.tenants] == ["acme", "beta"]


def test_deleting_a_tenant_erases_it_in_redis_and_in_the_server(
    server: AuthServer,
) -> None:
    operator = provision(server, "acme", "beta")
    admin_key = server.new_key("acme", "admin")
    router_key = server.new_key("acme", "router")
    admin = server.caller(admin_key)
    for tenant in ("acme", "beta"):
        ops = server.caller(operator, tenant)
        ops.ok("UpsertAgent", pb.UpsertAgentRequest(agent_id="a1", state=AVAILABLE))
        ops.ok(
            "Enqueue",
            pb.EnqueueRequest(interaction_id="i1", channel=pb.CHANNEL_VOICE, customer_id="c1"),
        )
    # An open watch stream of the tenant ends with the deletion.
    stream = server.stub().WatchAssignments(
        pb.WatchAssignmentsRequest(),
        timeout=10,
        metadata=server.caller(router_key).metadata(),
    )
    ended = threading.Event()

    def drain() -> None:
        try:
            for _ in stream:
                pass
        except grpc.RpcError:
            pass
        ended.set()

    threading.Thread(target=drain, daemon=True).start()
    live = server.running.server
    wait_for(lambda: len(live.tenants.find("acme").hub) > 0, 5, "the watch stream")  # type: ignore[union-attr]
    assert _keys_of(server, "acme")
    answer = admin.ok("DeleteTenant", pb.DeleteTenantRequest(tenant_id="acme"))
    assert answer.tenant_id == "acme"
    assert ended.wait(5), "the watch stream did not end"
    assert _keys_of(server, "acme") == []
    assert live.tenants.find("acme") is None
    r = server.redis()
    try:
        assert not r.sismember(f"{server.prefix}:tenants", "acme")
        assert not r.hexists(f"{server.prefix}:provisioned", "acme")
    finally:
        r.close()
    # Its keys are gone; the tenant takes no more requests; the other tenant is untouched.
    for token in (admin_key, router_key):
        assert server.caller(token).call("GetStats", pb.GetStatsRequest())[0] == (UNAUTHENTICATED)
    code, _ = server.caller(operator).call("GetStats", pb.GetStatsRequest())
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = server.caller(operator).call("DeleteTenant", pb.DeleteTenantRequest(tenant_id="acme"))
    assert code == grpc.StatusCode.NOT_FOUND
    beta = server.caller(operator, "beta")
    assert beta.ok("GetInteraction", pb.GetInteractionRequest(interaction_id="i1")).id == "i1"
    assert [a.id for a in beta.ok("ListAgents", pb.ListAgentsRequest()).agents] == ["a1"]


def test_the_tenants_commands_call_the_server_with_a_key(
    server: AuthServer, tmp_path: Path
) -> None:
    operator = provision(server)
    target = ["--target", server.address]
    status, out, err = run_cli("tenants", "create", "gamma", *target, "--token", operator)
    assert (status, out.strip()) == (0, "created tenant gamma"), err
    status, out, _ = run_cli("tenants", "list", "--json", *target, "--token", operator)
    assert status == 0
    assert [t["tenant_id"] for t in json.loads(out)["tenants"]] == ["gamma"]
    status, out, err = run_cli("tenants", "list", *target)
    assert status == 1 and out == "" and "UNAUTHENTICATED" in err
    viewer = server.new_key("gamma", "viewer")
    status, _, err = run_cli("tenants", "delete", "gamma", *target, "--token", viewer)
    assert status == 1 and "PERMISSION_DENIED" in err
    status, out, _ = run_cli("tenants", "delete", "gamma", *target, "--token", operator)
    assert (status, out.strip()) == (0, "deleted tenant gamma")
    status, out, _ = run_cli("tenants", "list", *target, "--token", operator)
    assert (status, out.strip()) == (0, "no tenants")
    # The shared connection flags: a key from a file; an empty key is a usage error.
    token_file = tmp_path / "operator.key"
    token_file.write_text(operator + "\n")
    status, out, err = run_cli(
        "tenants", "create", "delta", *target, "--token-file", str(token_file)
    )
    assert (status, out.strip()) == (0, "created tenant delta"), err
    status, out, err = run_cli("tenants", "list", *target, "--token", "")
    assert status == 1 and "UNAUTHENTICATED" in err
    status, out, err = run_cli("tenants", "list", *target, "--token", "a b")
    assert status == 2 and "one word" in err
    assert server.caller(operator, "gamma").call("GetStats", pb.GetStatsRequest())[0] != OK


def test_both_clients_send_the_key_and_make_the_tenant_calls(server: AuthServer) -> None:
    operator = provision(server)

    async def with_async_client() -> list[str]:
        async with AsyncRouterClient(server.address, tenant="t-async", token=operator) as c:
            made = await c.create_tenant("t-async")
            await c.upsert_agent("a1")
            trail = await c.list_audit(page_size=10)
            names = [t.tenant_id for t in await c.list_tenants()]
            await c.delete_tenant("t-async")
            assert made.tenant_id == "t-async"
            assert [e.action for e in trail.entries] == ["UpsertAgent", "CreateTenant"]
            return names

    assert asyncio.run(with_async_client()) == ["t-async"]
    with RouterClient(server.address, tenant="t-sync", token=operator) as sync:
        sync.create_tenant("t-sync")
        assert [t.tenant_id for t in sync.list_tenants()] == ["t-sync"]
        sync.delete_tenant("t-sync")
        assert sync.list_tenants() == []
    with RouterClient(server.address) as nobody, pytest.raises(RouterError) as err:
        nobody.list_tenants()
    assert err.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_turning_auth_on_keeps_tenants_of_first_writes_until_they_are_created() -> None:
    before = start_server()
    prefix = before.settings.prefix
    try:
        before.client("t1").agent("a1")
    finally:
        before.stop()
    server = start_auth_server(prefix=prefix)
    try:
        operator = provision(server)
        caller = server.caller(operator, "t1")
        code, _ = caller.call("GetAgent", pb.GetAgentRequest(agent_id="a1"))
        assert code == grpc.StatusCode.NOT_FOUND
        listed = caller.ok("ListTenants", pb.ListTenantsRequest()).tenants
        assert [(t.tenant_id, t.HasField("created_at")) for t in listed] == [("t1", False)]
        caller.ok("CreateTenant", pb.CreateTenantRequest(tenant_id="t1"))
        assert caller.ok("GetAgent", pb.GetAgentRequest(agent_id="a1")).id == "a1"
    finally:
        server.stop()
