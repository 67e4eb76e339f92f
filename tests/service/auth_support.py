"""A live router with authentication on (API keys in its Redis, made by the real CLI), and a
caller that sends a key: what the security tests share."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import redis
import redis.asyncio as aioredis

from cim_router import cli
from cim_router._pb import router_pb2 as pb
from cim_router._pb import router_pb2_grpc
from cim_router.domain.policy import Policy
from cim_router.service.auth.keys import KeyAccess
from cim_router.store import RedisSettings
from cim_router.store.keys import Keys
from tests.redis_server import drop_prefix, redis_url, unique_prefix
from tests.service.conftest import Running, start_server

SECURITY_DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
SERVICE = pb.DESCRIPTOR.services_by_name["Router"]
OK = grpc.StatusCode.OK
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED


def run_cli(*argv: str) -> tuple[int, str, str]:
    """`cim-router ARGV` in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = cli.main(list(argv))
        except SystemExit as exc:
            status = int(exc.code or 0) if not isinstance(exc.code, str) else 2
    return status, out.getvalue(), err.getvalue()


def key_id(token: str) -> str:
    found = re.fullmatch(r"cimk_([0-9a-f]{16})_.+", token)
    assert found is not None, token
    return found.group(1)


@dataclass
class AuthServer:
    running: Running
    prefix: str
    tokens: dict[str, str] = field(default_factory=dict)
    channels: list[grpc.Channel] = field(default_factory=list)

    @property
    def address(self) -> str:
        return self.running.server.address

    def store_flags(self) -> list[str]:
        return ["--redis-url", redis_url(), "--redis-prefix", self.prefix]

    def new_key(self, tenant: str, role: str, *extra: str) -> str:
        """A key made by `cim-router keys create`: its stdout is the key and nothing else."""
        status, out, err = run_cli(
            "keys", "create", "--tenant", tenant, "--role", role, *extra, *self.store_flags()
        )
        assert status == 0, err
        token = out.strip()
        assert out == token + "\n" and key_id(token), out
        return token

    def revoke(self, token: str) -> None:
        status, _, err = run_cli("keys", "revoke", key_id(token), *self.store_flags())
        assert status == 0, err

    def stub(self) -> router_pb2_grpc.RouterStub:
        channel = grpc.insecure_channel(self.address)
        self.channels.append(channel)
        return router_pb2_grpc.RouterStub(channel)

    def caller(self, token: str | None, tenant: str = "acme") -> Caller:
        return Caller(self.stub(), token, tenant)

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(redis_url())

    def stored(self) -> dict[bytes, Any]:
        """Every Redis key of this server but the audit trails, with its contents: what a
        refused call must leave as it was."""
        r = self.redis()
        try:
            names = sorted(r.scan_iter(match=f"{self.prefix}:*", count=1000))
            return {n: _contents(r, n) for n in names if not n.endswith(b":audit")}
        finally:
            r.close()

    def stop(self) -> None:
        for channel in self.channels:
            channel.close()
        self.running.stop()
        drop_prefix(self.prefix)


def _contents(r: redis.Redis, name: bytes) -> Any:
    kind = r.type(name)
    if kind == b"string":
        return r.get(name)
    if kind == b"hash":
        return r.hgetall(name)
    if kind == b"set":
        return r.smembers(name)
    if kind == b"list":
        return r.lrange(name, 0, -1)
    if kind == b"zset":
        return r.zrange(name, 0, -1, withscores=True)
    if kind == b"stream":
        return r.xrange(name)
    return kind


class Caller:
    """Calls with one credential (or none) on one tenant; answers (status, reply)."""

    def __init__(self, stub: router_pb2_grpc.RouterStub, token: str | None, tenant: str) -> None:
        self.stub = stub
        self.token = token
        self.tenant = tenant

    def metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        if self.token is None:
            return (("x-cim-tenant", self.tenant),)
        value = self.token if " " in self.token else f"Bearer {self.token}"
        return (("x-cim-tenant", self.tenant), ("authorization", value))

    def call(self, method: str, request: Any, timeout: float = 5.0) -> tuple[grpc.StatusCode, Any]:
        fn = getattr(self.stub, method)
        try:
            if SERVICE.methods_by_name[method].client_streaming:
                return self._session_call(request, timeout)
            if SERVICE.methods_by_name[method].server_streaming:
                events = fn(request, timeout=timeout, metadata=self.metadata())
                for event in events:
                    return OK, event
                return OK, None
            return OK, fn(request, timeout=timeout, metadata=self.metadata())
        except grpc.RpcError as exc:
            assert isinstance(exc, grpc.Call)
            return exc.code(), exc.details()

    def _session_call(self, request: Any, timeout: float) -> tuple[grpc.StatusCode, Any]:
        """A Session with the one call `request` (a SessionRequest): the stream's status if
        it failed, else its answer's (an error's code and message, or OK and the result)."""
        answers = self.stub.Session(iter([request]), timeout=timeout, metadata=self.metadata())
        for answer in answers:
            if answer.WhichOneof("result") == "event":
                continue
            if answer.WhichOneof("result") != "error":
                return OK, answer
            code = next(c for c in grpc.StatusCode if c.value[0] == answer.error.code)
            return code, answer.error.message
        raise AssertionError("a Session ended without answering its call")

    def ok(self, method: str, request: Any) -> Any:
        code, reply = self.call(method, request)
        assert code == OK, f"{method}: {code.name} {reply}"
        return reply


def start_auth_server(
    policy: Policy | None = None, prefix: str | None = None, **access_kw: Any
) -> AuthServer:
    """A server with --auth under a key prefix of its own (or `prefix`, to serve a store
    written before)."""
    prefix = prefix or unique_prefix()
    settings = RedisSettings.from_url(redis_url(), prefix=prefix)
    access = KeyAccess(aioredis.Redis.from_url(redis_url()), Keys(prefix), **access_kw)
    running = start_server(policy or Policy(), settings=settings, access=access)
    return AuthServer(running, prefix)


def provision(server: AuthServer, *tenants: str) -> str:
    """An operator key, and the tenants created with it; returns the key."""
    operator = server.tokens.get("operator") or server.new_key("*", "admin", "--name", "ops")
    server.tokens["operator"] = operator
    for tenant in tenants:
        server.caller(operator).ok("CreateTenant", pb.CreateTenantRequest(tenant_id=tenant))
    return operator


def serving() -> Iterator[AuthServer]:
    """For a test module's fixture: `yield from serving()`."""
    server = start_auth_server()
    try:
        yield server
    finally:
        server.stop()


def doc_table() -> dict[str, dict[str, str]]:
    """The roles table of docs/security.md: RPC -> role -> cell (yes, own, operator, -)."""
    text = SECURITY_DOC.read_text()
    section = text.split("## Roles", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    assert header[0] == "RPC", header
    table: dict[str, dict[str, str]] = {}
    for line in rows[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        table[cells[0]] = dict(zip(header[1:], cells[1:], strict=True))
    return table
