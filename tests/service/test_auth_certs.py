"""Client certificates as callers, end to end: a real gRPC server on loopback requiring client
certificates of the test CA, serving the router's handlers with the key access check and a
certificate map. A mapped certificate (by its CN or a SAN) gets its tenant and role; an
unmapped one is UNAUTHENTICATED; a bearer key, when present, decides instead."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from cim_router._pb import router_pb2 as pb
from cim_router._pb import router_pb2_grpc
from cim_router.domain.policy import Policy
from cim_router.service.auth.certs import CertMap, CertMapError
from cim_router.service.auth.keys import KeyAccess
from cim_router.service.handlers import add_router_to_server
from cim_router.service.servicer import RouterServicer
from cim_router.store import RedisSettings, RedisStore
from cim_router.tenant.registry import Tenants
from tests.pki import CertificateAuthority, Issued
from tests.redis_server import drop_prefix, redis_url, unique_prefix
from tests.service.auth_support import (
    OK,
    PERMISSION_DENIED,
    UNAUTHENTICATED,
    key_id,
    run_cli,
)
from tests.service.conftest import wait_for

CERT_MAP = """
[[client]]
match = "desk-7.acme.example"
tenant = "acme"
role = "agent"
agent_id = "a1"

[[client]]
match = "spiffe://acme/router"
tenant = "acme"
role = "router"

[[client]]
match = "ops.example"
tenant = "*"
role = "admin"
"""


@dataclass
class TlsServer:
    port: int
    prefix: str
    ca: CertificateAuthority
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    stop_event: asyncio.Event

    def stub(self, client: Issued) -> Any:
        creds = grpc.ssl_channel_credentials(
            root_certificates=self.ca.cert_pem,
            private_key=client.key_pem,
            certificate_chain=client.cert_pem,
        )
        channel = grpc.secure_channel(f"localhost:{self.port}", creds)
        return router_pb2_grpc.RouterStub(channel), channel

    def key(self, tenant: str, role: str, *extra: str) -> str:
        flags = ["--redis-url", redis_url(), "--redis-prefix", self.prefix]
        status, out, err = run_cli(
            "keys", "create", "--tenant", tenant, "--role", role, *extra, *flags
        )
        assert status == 0, err
        return out.strip()


def _call(stub: Any, method: str, request: Any, token: str | None = None) -> tuple[Any, Any]:
    md: list[tuple[str, str]] = [("x-cim-tenant", "acme")]
    if token:
        md.append(("authorization", f"Bearer {token}"))
    try:
        return OK, getattr(stub, method)(request, timeout=5, metadata=md)
    except grpc.RpcError as exc:
        assert isinstance(exc, grpc.Call)
        return exc.code(), exc.details()


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[TlsServer]:
    ca = CertificateAuthority(tmp_path / "ca")
    issued = ca.server()
    cert_map = tmp_path / "certs.toml"
    cert_map.write_text(CERT_MAP)
    prefix = unique_prefix()
    settings = RedisSettings.from_url(redis_url(), prefix=prefix)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def serve() -> None:
        store = RedisStore(settings)
        tenants = Tenants(store, Policy())
        await store.start()
        await tenants.start()
        access = KeyAccess(store.redis, store.keys, certs=CertMap.load(cert_map))
        server = grpc.aio.server()
        servicer = RouterServicer(tenants, access)
        add_router_to_server(servicer, server)
        creds = grpc.ssl_server_credentials(
            [(issued.key_pem, issued.cert_pem)],
            root_certificates=ca.cert_pem,
            require_client_auth=True,
        )
        box["port"] = server.add_secure_port("127.0.0.1:0", creds)
        box["stop"] = asyncio.Event()
        await server.start()
        ready.set()
        await box["stop"].wait()
        await server.stop(0)
        await tenants.stop()
        await store.close()

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    thread.start()
    assert ready.wait(30), "the TLS server did not start"
    running = TlsServer(box["port"], prefix, ca, loop, thread, box["stop"])
    try:
        yield running
    finally:
        loop.call_soon_threadsafe(box["stop"].set)
        thread.join(10)
        drop_prefix(prefix)


def test_a_mapped_certificate_calls_with_its_tenant_and_role(tls_server: TlsServer) -> None:
    ca = tls_server.ca
    ops, ops_channel = tls_server.stub(ca.client("ops", common_name="ops.example"))
    code, _ = _call(ops, "CreateTenant", pb.CreateTenantRequest(tenant_id="acme"))
    assert code == OK
    for agent in ("a1", "a2"):
        request = pb.UpsertAgentRequest(agent_id=agent, state=pb.AGENT_STATE_AVAILABLE)
        assert _call(ops, "UpsertAgent", request)[0] == OK
    page = _call(ops, "ListAudit", pb.ListAuditRequest())[1]
    assert [(e.caller, e.action, e.target) for e in page.entries][:2] == [
        ("cert:ops.example", "UpsertAgent", "a2"),
        ("cert:ops.example", "UpsertAgent", "a1"),
    ]
    # By the subject CN: an agent's desktop, for its own agent only.
    desk, desk_channel = tls_server.stub(ca.client("desk", common_name="desk-7.acme.example"))
    code, agent = _call(desk, "GetAgent", pb.GetAgentRequest(agent_id="a1"))
    assert code == OK and agent.id == "a1"
    assert _call(desk, "GetAgent", pb.GetAgentRequest(agent_id="a2"))[0] == PERMISSION_DENIED
    assert _call(desk, "ListAgents", pb.ListAgentsRequest())[0] == PERMISSION_DENIED
    # By a URI SAN: a platform with the router role.
    platform, platform_channel = tls_server.stub(
        ca.client("platform", common_name="not-mapped", uris=("spiffe://acme/router",))
    )
    enqueue = pb.EnqueueRequest(interaction_id="i1", channel=pb.CHANNEL_CHAT)
    assert _call(platform, "Enqueue", enqueue)[0] == OK
    assert _call(platform, "RemoveAgent", pb.RemoveAgentRequest(agent_id="a2"))[0] == (
        PERMISSION_DENIED
    )
    # A certificate of the CA that the map does not name: nobody.
    stranger, stranger_channel = tls_server.stub(ca.client("stranger"))
    code, details = _call(stranger, "GetStats", pb.GetStatsRequest())
    assert code == UNAUTHENTICATED and "missing credentials" in details
    for channel in (ops_channel, desk_channel, platform_channel, stranger_channel):
        channel.close()


def test_a_bearer_key_decides_over_the_certificate(tls_server: TlsServer) -> None:
    ca = tls_server.ca
    ops, ops_channel = tls_server.stub(ca.client("ops", common_name="ops.example"))
    assert _call(ops, "CreateTenant", pb.CreateTenantRequest(tenant_id="acme"))[0] == OK
    desk, desk_channel = tls_server.stub(ca.client("desk", common_name="desk-7.acme.example"))
    viewer = tls_server.key("acme", "viewer")
    assert _call(desk, "ListAgents", pb.ListAgentsRequest())[0] == PERMISSION_DENIED
    assert _call(desk, "ListAgents", pb.ListAgentsRequest(), viewer)[0] == OK
    code, _ = _call(desk, "GetAgent", pb.GetAgentRequest(agent_id="a1"), viewer)
    assert code == grpc.StatusCode.NOT_FOUND  # as the viewer: no such agent yet
    # A revoked key does not fall back to the certificate.
    status, _, _ = run_cli(
        "keys",
        "revoke",
        key_id(viewer),
        "--redis-url",
        redis_url(),
        "--redis-prefix",
        tls_server.prefix,
    )
    assert status == 0
    listing = pb.ListAgentsRequest()
    wait_for(lambda: _call(desk, "ListAgents", listing, viewer)[0] != OK, 3, "the revocation")
    assert _call(desk, "ListAgents", listing, viewer) == (
        UNAUTHENTICATED,
        "invalid or revoked API key",
    )
    ops_channel.close()
    desk_channel.close()


def test_a_certificate_of_another_ca_gets_no_connection(
    tls_server: TlsServer, tmp_path: Path
) -> None:
    rogue = CertificateAuthority(tmp_path / "rogue", name="rogue CA")
    stub, channel = tls_server.stub(rogue.client("desk", common_name="desk-7.acme.example"))
    code, _ = _call(stub, "GetStats", pb.GetStatsRequest())
    assert code == grpc.StatusCode.UNAVAILABLE
    channel.close()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[[client]]\nmatch = "x"\ntenant = "t"\nrole = "boss"\n', "role"),
        ('[[client]]\nmatch = "x"\nrole = "viewer"\n', "tenant is required"),
        ('[[client]]\nmatch = "x"\ntenant = "t"\nrole = "agent"\n', "agent_id"),
        ('[[client]]\nmatch = "x"\ntenant = "t"\nrole = "viewer"\nagent_id = "a"\n', "agent_id"),
        ('[[client]]\nmatch = "x"\ntenant = "t"\nrole = "viewer"\n' * 2, "listed twice"),
        ("not toml [", "certs.toml"),
    ],
)
def test_a_bad_certificate_map_is_refused_naming_the_entry(
    tmp_path: Path, text: str, says: str
) -> None:
    path = tmp_path / "certs.toml"
    path.write_text(text)
    with pytest.raises(CertMapError, match=says):
        CertMap.load(path)
