"""TLS and mutual TLS on the gRPC port of a real router, with certificates made in the test
run: plaintext and untrusted clients are refused, and new certificate files are served to new
connections without a restart (when the files change, and on `reload_certificates`)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cim_router.service.tls import ServerTls, TlsError, load
from tests.pki import CertificateAuthority, Issued
from tests.redis_server import drop_prefix
from tests.service.conftest import Running, start_server

OWN_POOL = (("grpc.use_local_subchannel_pool", 1),)  # a new connection per channel


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority(tmp_path / "pki")


@pytest.fixture
def other_ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority(tmp_path / "other", name="another CA")


def served(tmp_path: Path, issued: Issued) -> tuple[Path, Path]:
    """The server's certificate and key copied to files of its own, to rewrite later."""
    d = tmp_path / "server"
    d.mkdir(exist_ok=True)
    cert, key = d / "server.crt", d / "server.key"
    shutil.copyfile(issued.cert_file, cert)
    shutil.copyfile(issued.key_file, key)
    return cert, key


def replace(path: Path, data: bytes) -> None:
    """Write a new version the way deployment tools do: a new file renamed over the old."""
    tmp = path.with_suffix(".new")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def serving(
    address: str,
    ca: bytes | None = None,
    client: Issued | None = None,
    plaintext: bool = False,
) -> bool:
    """Whether a fresh connection gets an answer to a health check."""
    if plaintext:
        channel = grpc.insecure_channel(address, options=OWN_POOL)
    else:
        creds = grpc.ssl_channel_credentials(
            ca,
            client.key_pem if client else None,
            client.cert_pem if client else None,
        )
        channel = grpc.secure_channel(address, creds, options=OWN_POOL)
    with channel:
        try:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=3)
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.UNAVAILABLE, err
            return False
        return True


@pytest.fixture
def tls_server(tmp_path: Path, ca: CertificateAuthority) -> Iterator[tuple[Running, Path, Path]]:
    cert, key = served(tmp_path, ca.server())
    running = start_server(tls=ServerTls(cert, key))
    try:
        yield running, cert, key
    finally:
        running.stop()
        drop_prefix(running.settings.prefix)


@pytest.fixture
def mtls_server(tmp_path: Path, ca: CertificateAuthority) -> Iterator[Running]:
    issued = ca.server()
    running = start_server(tls=ServerTls(issued.cert_file, issued.key_file, ca.cert_file))
    try:
        yield running
    finally:
        running.stop()
        drop_prefix(running.settings.prefix)


def test_a_tls_server_refuses_a_plaintext_client(
    tls_server: tuple[Running, Path, Path], ca: CertificateAuthority
) -> None:
    running = tls_server[0]
    assert not serving(running.server.address, plaintext=True)
    assert serving(running.server.address, ca.cert_pem)
    # A client that trusts another CA does not accept the server.
    assert not serving(running.server.address, CertificateAuthority(ca.directory / "x").cert_pem)


def test_mutual_tls_needs_a_client_certificate_of_the_trusted_ca(
    mtls_server: Running, ca: CertificateAuthority, other_ca: CertificateAuthority
) -> None:
    address = mtls_server.server.address
    assert not serving(address, ca.cert_pem)  # no client certificate
    assert not serving(address, ca.cert_pem, other_ca.client("mallory"))
    assert not serving(address, plaintext=True)
    assert serving(address, ca.cert_pem, ca.client("router-1"))


def test_new_certificate_files_reach_new_connections_without_a_restart(
    tls_server: tuple[Running, Path, Path],
    ca: CertificateAuthority,
    other_ca: CertificateAuthority,
) -> None:
    running, cert, key = tls_server
    address = running.server.address
    assert serving(address, ca.cert_pem)
    assert not serving(address, other_ca.cert_pem)
    renewed = other_ca.server("renewed")
    replace(key, renewed.key_pem)
    replace(cert, renewed.cert_pem)
    assert serving(address, other_ca.cert_pem)
    assert not serving(address, ca.cert_pem)
    assert running.server.credentials is not None and running.server.credentials.reloads == 1


def test_reload_certificates_reads_the_files_at_once_and_keeps_a_good_set(
    tls_server: tuple[Running, Path, Path],
    ca: CertificateAuthority,
    other_ca: CertificateAuthority,
) -> None:
    running, cert, key = tls_server
    address = running.server.address
    assert running.server.reload_certificates() is False  # nothing changed
    renewed = other_ca.server("renewed")
    key.write_bytes(renewed.key_pem)
    cert.write_bytes(renewed.cert_pem)
    assert running.server.reload_certificates() is True  # SIGHUP's path
    assert serving(address, other_ca.cert_pem)
    assert not serving(address, ca.cert_pem)

    # A broken set (a key that is not the certificate's) is not served: the last good stays.
    key.write_bytes(ca.server("mismatch").key_pem)
    assert running.server.reload_certificates() is False
    assert serving(address, other_ca.cert_pem)


def test_unusable_files_are_refused_at_start_naming_the_file(
    tmp_path: Path, ca: CertificateAuthority
) -> None:
    issued = ca.server()
    with pytest.raises(TlsError, match=r"missing\.crt"):
        load(ServerTls(tmp_path / "missing.crt", issued.key_file))
    other_key = ca.server("other").key_file
    with pytest.raises(TlsError, match="not a PEM certificate chain and its key"):
        load(ServerTls(issued.cert_file, other_key))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(TlsError, match=r"junk\.pem"):
        load(ServerTls(issued.cert_file, issued.key_file, junk))
    assert load(ServerTls(issued.cert_file, issued.key_file, ca.cert_file)).client_ca


def test_serve_over_tls_survives_sighup_and_serves_renewed_files(
    tmp_path: Path, ca: CertificateAuthority, other_ca: CertificateAuthority
) -> None:
    """`cim-router serve --tls-cert --tls-key` as a process: SIGHUP re-reads the files (its
    default action would end the process)."""
    cert, key = served(tmp_path, ca.server())
    env = {
        **os.environ,
        "CIM_ROUTER_GRPC_PORT": "0",
        "CIM_ROUTER_METRICS_PORT": "0",
        "CIM_ROUTER_DATA_DIR": str(tmp_path / "data"),
    }
    argv = [sys.executable, "-m", "cim_router.cli", "serve", "--tls-cert", str(cert)]
    argv += ["--tls-key", str(key), "--log-format", "text"]
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(2)]
        assert lines[-1].startswith("cim-router listening on "), lines
        address = lines[-1].split()[-1]
        assert serving(address, ca.cert_pem)
        renewed = other_ca.server("renewed")
        key.write_bytes(renewed.key_pem)
        cert.write_bytes(renewed.cert_pem)
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)  # the handler reads the files before the next handshake would
        deadline = time.monotonic() + 10
        while not serving(address, other_ca.cert_pem):
            assert proc.poll() is None, "SIGHUP ended the server"
            assert time.monotonic() < deadline, "the renewed certificate was not served"
            time.sleep(0.1)
        assert not serving(address, ca.cert_pem)
        assert proc.poll() is None
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "SIGHUP: certificates reloaded" in err
