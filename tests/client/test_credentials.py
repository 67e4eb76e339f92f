"""The API key and TLS settings of the client library, the operator CLI, loadgen and the
example clients: the key goes out as `authorization: Bearer <key>` (recorded by a real
grpc.aio server), and TLS and mutual TLS reach a real router with certificates made here."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest

from cim_router._pb import router_pb2 as pb
from cim_router.cli import main
from cim_router.client import AsyncRouterClient, Retry, RouterClient, Tls, Unavailable
from cim_router.client.connection import resolve_target, token_metadata
from cim_router.client.flags import add_connection_flags, connection_from
from cim_router.service.tls import ServerTls
from tests.client.conftest import run
from tests.pki import CertificateAuthority, Issued
from tests.redis_server import drop_prefix
from tests.service.conftest import Running, start_server

ROOT = Path(__file__).resolve().parents[2]
ONCE = Retry(attempts=1)
KEY = "k-7f3a9c"


@dataclass
class Recorder:
    """A grpc.aio server answering GetStats (waiting=7) that keeps each call's metadata."""

    address: str = ""
    calls: list[dict[str, str]] = field(default_factory=list)


class _Recording(grpc.GenericRpcHandler):  # type: ignore[type-arg]
    """Records the metadata of every call, whatever its method; serves GetStats alone."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

        async def get_stats(request: pb.GetStatsRequest, context: Any) -> pb.Stats:
            return pb.Stats(waiting=7)

        self.get_stats = grpc.unary_unary_rpc_method_handler(
            get_stats,
            request_deserializer=pb.GetStatsRequest.FromString,
            response_serializer=pb.Stats.SerializeToString,
        )

    def service(self, details: grpc.HandlerCallDetails) -> Any:
        metadata = details.invocation_metadata or ()
        self.recorder.calls.append({k: str(v) for k, v in metadata})
        if details.method == "/cim_router.v1.Router/GetStats":
            return self.get_stats
        return None  # UNIMPLEMENTED


def _serve_recorder(credentials: grpc.ServerCredentials | None) -> Iterator[Recorder]:
    recorder = Recorder()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: list[grpc.aio.Server] = []

    async def boot() -> None:
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((_Recording(recorder),))
        if credentials is None:
            port = server.add_insecure_port("127.0.0.1:0")
        else:
            port = server.add_secure_port("127.0.0.1:0", credentials)
        await server.start()
        recorder.address = f"localhost:{port}"
        box.append(server)

    def main_loop() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(boot())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=main_loop, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield recorder
    finally:
        asyncio.run_coroutine_threadsafe(box[0].stop(0), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority(tmp_path / "pki")


@pytest.fixture
def plain_recorder() -> Iterator[Recorder]:
    yield from _serve_recorder(None)


@pytest.fixture
def mtls_recorder(ca: CertificateAuthority) -> Iterator[Recorder]:
    issued = ca.server()
    credentials = grpc.ssl_server_credentials(
        [(issued.key_pem, issued.cert_pem)],
        root_certificates=ca.cert_pem,
        require_client_auth=True,
    )
    yield from _serve_recorder(credentials)


@pytest.fixture
def mtls_router(ca: CertificateAuthority) -> Iterator[Running]:
    issued = ca.server()
    running = start_server(tls=ServerTls(issued.cert_file, issued.key_file, ca.cert_file))
    try:
        yield running
    finally:
        running.stop()
        drop_prefix(running.settings.prefix)


def _mutual(ca: CertificateAuthority, client: Issued) -> Tls:
    return Tls.from_files(ca=ca.cert_file, cert=client.cert_file, key=client.key_file)


def test_the_clients_send_the_key_as_a_bearer_token(plain_recorder: Recorder) -> None:
    with RouterClient(plain_recorder.address, tenant="acme", token=KEY, retry=ONCE) as router:
        assert router.stats().waiting == 7

    async def scenario() -> int:
        async with AsyncRouterClient(plain_recorder.address, token=KEY, retry=ONCE) as router:
            return (await router.stats()).waiting

    assert run(scenario()) == 7
    with RouterClient(plain_recorder.address, retry=ONCE) as router:
        router.stats()
    sync_call, async_call, anonymous = plain_recorder.calls
    assert sync_call["authorization"] == f"Bearer {KEY}"
    assert sync_call["x-cim-tenant"] == "acme"
    assert async_call["authorization"] == f"Bearer {KEY}"
    assert "authorization" not in anonymous


def test_a_key_is_one_word() -> None:
    assert token_metadata(None) == ()
    assert token_metadata(" abc \n") == (("authorization", "Bearer abc"),)
    for bad in ("", "  ", "two words"):
        with pytest.raises(ValueError):
            token_metadata(bad)


def test_the_clients_reach_a_mutual_tls_router(
    mtls_router: Running, ca: CertificateAuthority, other: CertificateAuthority
) -> None:
    address = mtls_router.server.address
    good = _mutual(ca, ca.client("desk"))
    with RouterClient(address, tls=good, retry=ONCE) as router:
        assert router.upsert_agent("ann", state="available").id == "ann"

    async def scenario() -> int:
        async with AsyncRouterClient(address, tls=good, retry=ONCE) as router:
            return len(await router.list_agents())

    assert run(scenario()) == 1
    for refused in (None, Tls.from_files(ca=ca.cert_file), _mutual(ca, other.client("eve"))):
        client = RouterClient(address, tls=refused, retry=ONCE, timeout=3)
        with client, pytest.raises(Unavailable):
            client.stats()


@pytest.fixture
def other(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority(tmp_path / "other", name="another CA")


def test_an_https_target_means_tls() -> None:
    assert resolve_target("localhost:1", None) == ("localhost:1", None)
    address, tls = resolve_target("https://router.example:443/", None)
    assert address == "router.example:443" and tls == Tls()
    given = Tls(root_certificates=b"x")
    assert resolve_target("grpcs://r:1", given) == ("r:1", given)


def _flags(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_connection_flags(p)
    return p.parse_args(argv)


def test_connection_flags_and_their_environment(tmp_path: Path, ca: CertificateAuthority) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(f"{KEY}\n")
    assert connection_from(_flags([]), env={}).token is None
    assert connection_from(_flags(["--token", "a"]), env={"CIM_ROUTER_TOKEN": "b"}).token == "a"
    assert connection_from(_flags([]), env={"CIM_ROUTER_TOKEN": "b"}).token == "b"
    from_file = connection_from(_flags(["--token-file", str(key_file)]), env={})
    assert from_file.token == KEY and from_file.tls is None
    env_file = {"CIM_ROUTER_TOKEN_FILE": str(key_file)}
    assert connection_from(_flags([]), env=env_file).token == KEY
    with pytest.raises(ValueError, match="give one"):
        connection_from(_flags(["--token", "a", "--token-file", str(key_file)]), env={})
    with pytest.raises(ValueError, match="cannot read the token file"):
        connection_from(_flags(["--token-file", str(tmp_path / "none")]), env={})
    client = ca.client("cli")
    tls = connection_from(
        _flags(["--ca", str(ca.cert_file), "--cert", str(client.cert_file)]),
        env={"CIM_ROUTER_KEY": str(client.key_file)},
    ).tls
    assert tls == Tls(ca.cert_pem, client.cert_pem, client.key_pem)
    with pytest.raises(ValueError, match="go together"):
        connection_from(_flags(["--cert", str(client.cert_file)]), env={})


def test_the_operator_cli_sends_the_key_over_mutual_tls(
    mtls_recorder: Recorder, ca: CertificateAuthority, tmp_path: Path
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY)
    client = ca.client("ops")
    tls = [
        "--ca",
        str(ca.cert_file),
        "--cert",
        str(client.cert_file),
        "--key",
        str(client.key_file),
    ]
    argv = ["stats", "--json", "--target", mtls_recorder.address, "--token-file", str(key_file)]
    assert main([*argv, *tls]) == 0
    assert mtls_recorder.calls[-1]["authorization"] == f"Bearer {KEY}"
    assert main([*argv, "--timeout", "2"]) == 1  # no certificate: refused
    assert main([*argv, "--token", "x", *tls]) == 2  # a key twice


def test_loadgen_runs_over_mutual_tls_and_keeps_the_key_out_of_its_report(
    mtls_router: Running, ca: CertificateAuthority, capsys: pytest.CaptureFixture[str]
) -> None:
    client = ca.client("loadgen")
    argv = ["loadgen", "--target", mtls_router.server.address, "--token", KEY,
            "--ca", str(ca.cert_file), "--cert", str(client.cert_file),
            "--key", str(client.key_file), "--rate", "200", "--count", "5", "--agents", "3",
            "--handle-mean", "0.02", "--quiet", "--json", "--seed", "3"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    report = json.loads(out)
    assert report["sent"] == 5 and report["errors"] == {}
    assert report["config"]["token"] is True and report["config"]["tls"] is True
    assert KEY not in out and "PRIVATE KEY" not in out


def _example(script: str, target: str, ca: CertificateAuthority, client: Issued) -> Any:
    return subprocess.run(
        [sys.executable, str(ROOT / "clients" / "python" / script), "--target", target,
         "--ca", str(ca.cert_file), "--cert", str(client.cert_file),
         "--key", str(client.key_file)],
        env={**os.environ, "CIM_ROUTER_TOKEN": KEY},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize("script", ["wallboard.py", "chat_platform.py", "acd.py"])
def test_the_python_examples_run_over_mutual_tls(
    script: str, mtls_router: Running, ca: CertificateAuthority, other: CertificateAuthority
) -> None:
    address = mtls_router.server.address
    done = _example(script, address, ca, ca.client("example"))
    assert done.returncode == 0, done.stderr
    refused = _example(script, address, ca, other.client("example"))
    assert refused.returncode == 1 and "UNAVAILABLE" in refused.stderr


def test_an_example_sends_the_key(mtls_recorder: Recorder, ca: CertificateAuthority) -> None:
    done = _example("wallboard.py", mtls_recorder.address, ca, ca.client("example"))
    assert done.returncode == 0, done.stderr
    assert mtls_recorder.calls and mtls_recorder.calls[-1]["authorization"] == f"Bearer {KEY}"


def _node(*argv: str, env: dict[str, str] | None = None) -> Any:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are needed for the Node.js example")
    example = ROOT / "clients" / "node"
    if not (example / "node_modules" / "@grpc" / "grpc-js").is_dir():
        install = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=example,
                                 capture_output=True, text=True, timeout=300)  # fmt: skip
        assert install.returncode == 0, install.stderr
    return subprocess.run(
        [node, str(example / "example.js"), *argv],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_node_example_runs_over_mutual_tls(
    mtls_router: Running, ca: CertificateAuthority, other: CertificateAuthority
) -> None:
    def flags(client: Issued) -> list[str]:
        return ["--target", mtls_router.server.address, "--ca", str(ca.cert_file),
                "--cert", str(client.cert_file), "--key", str(client.key_file)]  # fmt: skip

    done = _node(*flags(ca.client("node")))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["completed_state"] == "INTERACTION_STATE_WRAP_UP"
    refused = _node(*flags(other.client("node")))
    assert refused.returncode == 1 and "UNAVAILABLE" in refused.stderr


def test_the_node_example_sends_the_key(
    mtls_recorder: Recorder, ca: CertificateAuthority, tmp_path: Path
) -> None:
    client = ca.client("node")
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    tls = ["--ca", str(ca.cert_file), "--cert", str(client.cert_file)]
    tls += ["--key", str(client.key_file)]
    # The recorder has no UpsertAgent: the example fails, after sending its first call.
    done = _node(
        "--target", mtls_recorder.address, *tls, env={"CIM_ROUTER_TOKEN_FILE": str(key_file)}
    )
    assert done.returncode == 1 and "UNIMPLEMENTED" in done.stderr
    assert mtls_recorder.calls[-1]["authorization"] == f"Bearer {KEY}"
    _node("--target", mtls_recorder.address, "--token", "other", *tls)
    assert mtls_recorder.calls[-1]["authorization"] == "Bearer other"
