"""TLS and mutual TLS: the client's credentials against a TLS-only gRPC server.

The server here is a stand-in Router service answering GetStats, behind real TLS with client
certificates required (the real router over mutual TLS: test_credentials.py).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest

from cim_router._pb import router_pb2 as pb
from cim_router.client import AsyncRouterClient, Retry, RouterClient, Tls, Unavailable
from tests.client.conftest import run

ONCE = Retry(attempts=1)


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make test certificates")
    d = tmp_path_factory.mktemp("certs")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
            "-subj", "/CN=test-ca", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)  # fmt: skip
    for name, ext in (("server", "subjectAltName=DNS:router.test"), ("client", "")):
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}", cwd=d)  # fmt: skip
        (d / f"{name}.ext").write_text(ext + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "1",
                "-extfile", f"{name}.ext", cwd=d)  # fmt: skip
    return d


def stats_only() -> grpc.GenericRpcHandler[Any, Any]:
    """The Router service with GetStats alone, always answering 7 waiting."""
    get_stats = grpc.unary_unary_rpc_method_handler(
        lambda request, context: pb.Stats(waiting=7),
        request_deserializer=pb.GetStatsRequest.FromString,
        response_serializer=pb.Stats.SerializeToString,
    )
    return grpc.method_handlers_generic_handler("cim_router.v1.Router", {"GetStats": get_stats})


@pytest.fixture
def tls_target(certs: Path) -> Iterator[str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((stats_only(),))
    credentials = grpc.ssl_server_credentials(
        [((certs / "server.key").read_bytes(), (certs / "server.pem").read_bytes())],
        root_certificates=(certs / "ca.pem").read_bytes(),
        require_client_auth=True,
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(0).wait(5)


def mutual(certs: Path) -> Tls:
    return Tls.from_files(
        ca=certs / "ca.pem",
        cert=certs / "client.pem",
        key=certs / "client.key",
        server_name="router.test",
    )


def test_mutual_tls_sync_and_async(tls_target: str, certs: Path) -> None:
    with RouterClient(tls_target, tls=mutual(certs), retry=ONCE) as router:
        assert router.stats().waiting == 7

    async def scenario() -> int:
        async with AsyncRouterClient(tls_target, tls=mutual(certs), retry=ONCE) as router:
            return (await router.stats()).waiting

    assert run(scenario()) == 7


def test_no_client_certificate_or_an_untrusted_server_fails(tls_target: str, certs: Path) -> None:
    ca_only = Tls.from_files(ca=certs / "ca.pem", server_name="router.test")
    system_roots = Tls(
        certificate_chain=(certs / "client.pem").read_bytes(),
        private_key=(certs / "client.key").read_bytes(),
        server_name="router.test",
    )
    for tls in (ca_only, system_roots, None):
        client = RouterClient(tls_target, tls=tls, retry=ONCE, timeout=3)
        with client, pytest.raises(Unavailable):
            client.stats()
