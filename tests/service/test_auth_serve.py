"""`cim-router serve --auth` as a process on its private Redis, managed as an operator would:
keys made with `keys create --data-dir`, a tenant created with `tenants create`, then calls
with and without a key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grpc

from cim_router._pb import router_pb2 as pb
from cim_router._pb import router_pb2_grpc
from tests.service.auth_support import (
    OK,
    PERMISSION_DENIED,
    UNAUTHENTICATED,
    Caller,
    run_cli,
)


def test_serve_with_auth_takes_keys_made_on_its_data_dir(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CIM_ROUTER_HOST": "127.0.0.1",
        "CIM_ROUTER_GRPC_PORT": "0",
        "CIM_ROUTER_METRICS_PORT": "0",
        "CIM_ROUTER_DATA_DIR": str(tmp_path),
        "CIM_ROUTER_AUTH": "1",
    }
    env.pop("CIM_ROUTER_REDIS_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cim_router.cli", "serve", "--log-level", "WARNING"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        address = ""
        for _ in range(3):
            line = proc.stdout.readline()
            if line.startswith("cim-router listening on "):
                address = line.split()[-1]
                break
        assert address, proc.stderr.read() if proc.stderr else ""
        data = ["--redis-url", "", "--data-dir", str(tmp_path)]  # not an env var's URL
        status, operator, err = run_cli("keys", "create", "--tenant", "*", "--role", "admin", *data)
        assert status == 0, err
        operator = operator.strip()
        status, _, err = run_cli(
            "tenants", "create", "acme", "--target", address, "--token", operator
        )
        assert status == 0, err
        status, router, err = run_cli(
            "keys", "create", "--tenant", "acme", "--role", "router", *data
        )
        assert status == 0, err
        channel = grpc.insecure_channel(address)
        stub = router_pb2_grpc.RouterStub(channel)
        enqueue = pb.EnqueueRequest(interaction_id="i1", channel=pb.CHANNEL_CHAT)
        assert Caller(stub, None, "acme").call("Enqueue", enqueue)[0] == UNAUTHENTICATED
        assert Caller(stub, router.strip(), "acme").call("Enqueue", enqueue)[0] == OK
        upsert = pb.UpsertAgentRequest(agent_id="a1")
        assert Caller(stub, router.strip(), "acme").call("UpsertAgent", upsert)[0] == (
            PERMISSION_DENIED
        )
        channel.close()
    finally:
        proc.terminate()
        proc.wait(15)
