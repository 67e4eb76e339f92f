"""The server process: health, reflection, `cim-router serve` flags and env, SIGTERM drain."""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from cim_router._pb import router_pb2 as pb
from cim_router.cli import parser
from tests.service.conftest import Client, Running
from tests.store.process import start


def test_health_serving_for_the_server_and_the_router(running: Running) -> None:
    with grpc.insecure_channel(running.server.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in ("", "cim_router.v1.Router"):
            r = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert r.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_router(running: Running) -> None:
    with grpc.insecure_channel(running.server.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        responses = list(stub.ServerReflectionInfo(iter([request]), timeout=5))
        names = {s.name for s in responses[0].list_services_response.service}
        assert {"cim_router.v1.Router", "grpc.health.v1.Health"} <= names


def test_flags_default_and_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    args = parser().parse_args(["serve"])
    assert (args.grpc_port, args.metrics_port, args.redis_url) == ("50051", "9464", None)
    monkeypatch.setenv("CIM_ROUTER_GRPC_PORT", "6000")
    monkeypatch.setenv("CIM_ROUTER_LOG_LEVEL", "DEBUG")
    args = parser().parse_args(["serve"])
    assert (args.grpc_port, args.log_level) == ("6000", "DEBUG")
    args = parser().parse_args(["serve", "--grpc-port", "7000"])
    assert args.grpc_port == "7000"


def test_bad_policy_file_stops_the_server_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "policy.toml"
    bad.write_text("offer_timeout_seconds = -1\n")
    env = {**os.environ, "CIM_ROUTER_POLICY": str(bad), "CIM_ROUTER_GRPC_PORT": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "cim_router.cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert "offer_timeout_seconds" in done.stderr


@pytest.fixture
def process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`cim-router serve` on its embedded Redis, in this test's own data directory."""
    policy = tmp_path / "policy.toml"
    policy.write_text("offer_timeout_seconds = 30\n")
    server = start(None, policy, tmp_path / "data")
    try:
        yield server.proc, server.address
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
        server.proc.wait(10)


def test_sigterm_drains_in_flight_calls_and_exits(
    process: tuple[subprocess.Popen[str], str],
) -> None:
    proc, address = process
    channel = grpc.insecure_channel(address)
    client = Client(channel)
    client.agent("a1")
    outcome: dict[str, object] = {}

    def waiting_assign() -> None:
        try:
            r = client.Assign(pb.AssignRequest(agent_id="a1", wait=True), timeout=20)
            outcome["assign"] = r.matched
        except grpc.RpcError as err:
            outcome["assign"] = err.code()

    def watch() -> None:
        stream = client.stub.WatchAssignments(pb.WatchAssignmentsRequest(), timeout=20)
        try:
            outcome["watched"] = len(list(stream))
        except grpc.RpcError as err:
            outcome["watched"] = err.code()

    threads = [threading.Thread(target=waiting_assign), threading.Thread(target=watch)]
    for t in threads:
        t.start()
    time.sleep(0.5)  # both calls are in flight
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(15)
    assert proc.wait(15) == 0
    assert time.monotonic() - started < 10
    assert outcome == {"assign": False, "watched": 0}
    channel.close()


def test_readme_grpc_example_runs_against_a_live_server(running: Running) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    (code,) = [b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "Stub(" in b]
    code = code.replace("localhost:50051", running.server.address)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    assert out.getvalue().split() == [str(pb.INTERACTION_STATE_OFFERED), "ann"]
    tenant = running.client("acme")
    done = tenant.get("chat-1")
    assert done.csat == 5 and done.state in (
        pb.INTERACTION_STATE_WRAP_UP,
        pb.INTERACTION_STATE_COMPLETED,
    )
