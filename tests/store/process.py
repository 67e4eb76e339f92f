"""`cim-router serve` as a child process on a test Redis, for crash and restart tests."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import grpc

from tests.service.conftest import Client


@dataclass
class ServerProcess:
    proc: subprocess.Popen[str]
    address: str

    def client(self, tenant: str = "default") -> Client:
        return Client(grpc.insecure_channel(self.address), tenant)

    def kill(self) -> None:
        """kill -9: no shutdown, no flush."""
        self.proc.kill()
        self.proc.wait(10)

    def terminate(self) -> int:
        """SIGTERM and its exit code; killed (and -9) if it does not stop in time."""
        self.proc.terminate()
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9


def start(redis_url: str | None, policy: Path, data_dir: Path | None = None) -> ServerProcess:
    """Start a server and wait until it listens; `redis_url` None means the embedded Redis
    in `data_dir`."""
    env = {
        **os.environ,
        "CIM_ROUTER_HOST": "127.0.0.1",
        "CIM_ROUTER_GRPC_PORT": "0",
        "CIM_ROUTER_METRICS_PORT": "0",  # never the fixed default, which may be taken
        "CIM_ROUTER_POLICY": str(policy),
    }
    if redis_url:
        env["CIM_ROUTER_REDIS_URL"] = redis_url
    if data_dir is not None:
        env["CIM_ROUTER_DATA_DIR"] = str(data_dir)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cim_router.cli", "serve", "--log-level", "WARNING"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for _ in range(3):
        line = proc.stdout.readline()
        if line.startswith("cim-router listening on "):
            return ServerProcess(proc, line.split()[-1])
        if not line:
            break
    proc.kill()
    err = proc.stderr.read() if proc.stderr else ""
    raise RuntimeError(f"server did not start: {line!r} {err}")
