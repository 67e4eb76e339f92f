"""Where `cim-router serve` may listen: loopback by default; another address only with
authentication or --insecure (with a warning); unusable TLS files stop it with a message;
reflection can be turned off."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from cim_router.cli import SERVE_FLAGS, parser
from cim_router.service.bind import BindRefused, check_bind, is_loopback
from tests.pki import CertificateAuthority
from tests.redis_server import drop_prefix
from tests.service.conftest import Running, start_server


def test_loopback_addresses() -> None:
    for host in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "", "10.0.0.5", "192.168.1.1", "router.example", "[::]"):
        assert not is_loopback(host), host


def test_check_bind_needs_authentication_or_insecure_off_loopback() -> None:
    assert check_bind("127.0.0.1", authenticated=False, insecure=False) is None
    assert check_bind("0.0.0.0", authenticated=True, insecure=False) is None
    with pytest.raises(BindRefused, match="--insecure"):
        check_bind("0.0.0.0", authenticated=False, insecure=False)
    with pytest.raises(BindRefused):
        check_bind("10.1.2.3", authenticated=False, insecure=False)
    warning = check_bind("0.0.0.0", authenticated=False, insecure=True)
    assert warning is not None and "without authentication" in warning


def test_the_default_host_is_loopback_and_switches_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert SERVE_FLAGS["host"][0] == "127.0.0.1"
    args = parser().parse_args(["serve"])
    assert (args.host, args.insecure, args.no_reflection) == ("127.0.0.1", False, False)
    monkeypatch.setenv("CIM_ROUTER_INSECURE", "true")
    assert parser().parse_args(["serve"]).insecure is True


def _serve(tmp_path: Path, *flags: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "CIM_ROUTER_GRPC_PORT": "0",
        "CIM_ROUTER_METRICS_PORT": "0",
        "CIM_ROUTER_DATA_DIR": str(tmp_path / "data"),
    }
    env.pop("CIM_ROUTER_HOST", None)
    return subprocess.Popen(
        [sys.executable, "-m", "cim_router.cli", "serve", *flags],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def stop_after() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def test_serve_refuses_every_address_without_authentication(tmp_path: Path) -> None:
    proc = _serve(tmp_path, "--host", "0.0.0.0")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "refusing to listen on 0.0.0.0 without authentication" in err
    assert "Traceback" not in err
    assert not (tmp_path / "data").exists()  # refused before the private Redis started


def test_serve_with_insecure_starts_and_warns(
    tmp_path: Path, stop_after: list[subprocess.Popen[str]]
) -> None:
    proc = _serve(tmp_path, "--host", "0.0.0.0", "--insecure", "--log-format", "text")
    stop_after.append(proc)
    assert proc.stdout is not None and proc.stderr is not None
    lines = [proc.stdout.readline() for _ in range(2)]
    assert lines[-1].startswith("cim-router listening on 0.0.0.0:"), lines
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    assert "without authentication (--insecure)" in err
    assert "/metrics listens beyond loopback without --metrics-token-file" in err


def test_serve_stops_with_a_message_on_a_missing_or_bad_certificate(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "pki")
    issued = ca.server()
    missing = tmp_path / "nope.crt"
    proc = _serve(tmp_path, "--tls-cert", str(missing), "--tls-key", str(issued.key_file))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "Traceback" not in err
    assert f"cim-router: TLS: cannot read {missing}" in err

    other_key = ca.server("other").key_file
    proc = _serve(tmp_path, "--tls-cert", str(issued.cert_file), "--tls-key", str(other_key))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "Traceback" not in err
    assert "not a PEM certificate chain and its key" in err

    proc = _serve(tmp_path, "--tls-cert", str(issued.cert_file))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "--tls-cert and --tls-key go together" in err

    proc = _serve(tmp_path, "--metrics-token-file", str(tmp_path / "no-token"))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "Traceback" not in err
    assert "cim-router: metrics: --metrics-token-file" in err
    assert not (tmp_path / "data").exists()  # all refused before the private Redis started


@pytest.fixture
def no_reflection() -> Iterator[Running]:
    running = start_server(reflection=False)
    try:
        yield running
    finally:
        running.stop()
        drop_prefix(running.settings.prefix)


def test_reflection_can_be_turned_off(no_reflection: Running) -> None:
    with grpc.insecure_channel(no_reflection.server.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        with pytest.raises(grpc.RpcError) as err:
            list(stub.ServerReflectionInfo(iter([request]), timeout=5))
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
