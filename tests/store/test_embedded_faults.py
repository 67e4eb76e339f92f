"""The embedded Redis when things go wrong: a second router on the same data directory, a
router killed with -9, a redis-server left running by one, a pid file naming someone else,
and the private redis-server dying under a running router."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
import redis
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cim_router.store import datadir
from cim_router.store.embedded import (
    Backoff,
    EmbeddedRedis,
    EmbeddedRedisError,
    find_redis_server,
    free_port,
)
from tests.service.conftest import Client, wait_for
from tests.store.process import ServerProcess, start

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc; the death signal is Linux's"
)


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text("offer_timeout_seconds = 30\n")
    return path


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return (tmp_path / "data").resolve()


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts itself; killed at the end whatever happened."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def servers_on(data_dir: Path) -> list[int]:
    """Pids of every live redis-server working on `data_dir`."""
    pids = (int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit())
    return [pid for pid in pids if datadir.is_server_of(pid, data_dir)]


def recorded_pid(data_dir: Path) -> int:
    record = datadir.read_pid_file(data_dir)
    assert record is not None, "no pid file"
    return record[0]


def write_state(server: ServerProcess) -> Client:
    c = server.client()
    c.agent("ann")
    c.enqueue("chat-1", customer_id="c1")
    return c


def state_is_there(c: Client) -> None:
    assert c.get_agent("ann").id == "ann"
    assert c.get("chat-1").customer_id == "c1"


def succeeds(call: Callable[[], object]) -> bool:
    """Whether `call` succeeds; UNAVAILABLE (the store reloading) is the only failure
    allowed."""
    try:
        call()
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.UNAVAILABLE, err
        time.sleep(0.05)
        return False
    return True


def serving(address: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            status = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1).status
        except grpc.RpcError:
            return False
        return bool(status == health_pb2.HealthCheckResponse.SERVING)


def spawn(children: list[subprocess.Popen[bytes]], args: list[str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    children.append(proc)
    return proc


def spawn_fake_redis_server(
    children: list[subprocess.Popen[bytes]], tmp_path: Path, data_dir: Path
) -> subprocess.Popen[bytes]:
    """A process whose command line is a redis-server's on `data_dir`, but which is Python
    ignoring SIGTERM; returned once it ignores it."""
    link = tmp_path / "fake" / "redis-server"
    link.parent.mkdir(exist_ok=True)
    if not link.exists():
        link.symlink_to(sys.executable)
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)"
    )
    proc = spawn(children, [str(link), "-c", code, "--dir", str(data_dir)])
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    return proc


# --- the lock -----------------------------------------------------------------------------


def test_a_second_router_on_the_data_dir_fails_at_once_and_starts_nothing(
    policy: Path, data: Path
) -> None:
    first = start(None, policy, data)
    try:
        pid = recorded_pid(data)
        env = {**os.environ, "CIM_ROUTER_DATA_DIR": str(data), "CIM_ROUTER_POLICY": str(policy)}
        env |= {"CIM_ROUTER_GRPC_PORT": "0", "CIM_ROUTER_METRICS_PORT": "0"}
        second = subprocess.run(
            [sys.executable, "-m", "cim_router.cli", "serve"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode != 0
        assert second.stderr.startswith("cim-router: ")
        assert str(data) in second.stderr and "in use" in second.stderr
        assert "private redis" not in second.stdout
        assert recorded_pid(data) == pid
        assert servers_on(data) == [pid]
        write_state(first)  # the first is undisturbed
    finally:
        assert first.terminate() == 0


def test_the_lock_is_released_on_stop(data: Path) -> None:
    with EmbeddedRedis(data) as first:
        with pytest.raises(EmbeddedRedisError, match="in use by another cim-router") as caught:
            EmbeddedRedis(data).start()
        assert isinstance(caught.value.__cause__, datadir.DataDirLocked)
        assert servers_on(data) == [first.pid] == [recorded_pid(data)]
    with EmbeddedRedis(data) as again:
        assert again.running


# --- a router killed with -9 --------------------------------------------------------------


def test_a_router_killed_with_minus_9_takes_its_redis_with_it(policy: Path, data: Path) -> None:
    server = start(None, policy, data)
    try:
        write_state(server)
        pid = recorded_pid(data)
        assert servers_on(data) == [pid]
    finally:
        server.kill()
    wait_for(lambda: not servers_on(data), timeout=5, what="the private redis-server to end")
    server = start(None, policy, data)
    try:
        state_is_there(server.client())
        assert servers_on(data) == [recorded_pid(data)] != [pid]
    finally:
        assert server.terminate() == 0


def test_a_leftover_server_is_stopped_gracefully_before_a_new_one_starts(
    data: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    """Where no death signal ended it (another system, or a kill between fork and prctl)."""
    data.mkdir()
    port = free_port()
    args = [find_redis_server(), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data)]
    args += ["--save", "", "--appendonly", "yes", "--set-proc-title", "no"]
    leftover = spawn(children, args)
    datadir.write_pid_file(data, leftover.pid, port)
    client = redis.Redis(port=port)
    wait_for(lambda: _answers(client), what="the leftover to answer")
    client.set("written-last", "1")  # not yet fsynced: only a graceful stop keeps it
    client.close()
    with EmbeddedRedis(data) as fresh:
        assert leftover.wait(5) == 0  # exited by itself, on SIGTERM
        assert servers_on(data) == [fresh.pid]
        with redis.Redis.from_url(fresh.url) as check:
            assert check.get("written-last") == b"1"


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def test_a_leftover_that_ignores_sigterm_is_killed(
    tmp_path: Path, data: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    data.mkdir()
    leftover = spawn_fake_redis_server(children, tmp_path, data)
    datadir.write_pid_file(data, leftover.pid, 1)
    started = time.monotonic()
    datadir.stop_leftover(data, timeout=0.5)
    assert leftover.wait(5) == -signal.SIGKILL
    assert time.monotonic() - started < 3
    assert datadir.read_pid_file(data) is None


@pytest.mark.parametrize("kind", ["unrelated", "other-dir"])
def test_a_pid_file_naming_another_process_leaves_it_alone(
    kind: str, tmp_path: Path, data: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    """The pid of a dead server can be reused: only a redis-server of this directory is
    stopped."""
    data.mkdir()
    if kind == "unrelated":
        bystander = spawn(children, ["sleep", "60"])
    else:
        bystander = spawn_fake_redis_server(children, tmp_path, tmp_path / "other")
    datadir.write_pid_file(data, bystander.pid, 1)
    with EmbeddedRedis(data) as fresh:
        assert fresh.running
        assert bystander.poll() is None
        assert recorded_pid(data) == fresh.pid


def test_without_proc_the_server_is_recognised_through_ps(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    data: Path,
    children: list[subprocess.Popen[bytes]],
) -> None:
    fake = spawn_fake_redis_server(children, tmp_path, data)
    assert datadir.is_server_of(fake.pid, data)
    monkeypatch.setattr(datadir, "PROC", tmp_path / "no-proc")
    assert datadir.is_server_of(fake.pid, data)
    assert not datadir.is_server_of(fake.pid, tmp_path)


# --- restarts -----------------------------------------------------------------------------


def test_backoff_doubles_up_to_its_cap_and_starts_over_after_a_steady_run() -> None:
    b = Backoff(first=0.1, most=0.5, settled=10)
    assert [b.delay(up_for=0.5) for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    assert b.delay(up_for=11) == 0.1
    assert b.delay(up_for=0.5) == 0.2


def test_supervise_restarts_a_dead_server_on_its_port_and_stop_ends_it(
    data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    backoff = Backoff(first=0.05)

    async def scenario() -> None:
        server = EmbeddedRedis(data).start()
        port = server.port
        supervisor = asyncio.create_task(server.supervise(backoff))
        try:
            for _ in range(2):
                dead = server.pid
                assert dead is not None
                os.kill(dead, signal.SIGKILL)
                await _replaced(server, dead)
                assert server.port == port
                assert recorded_pid(data) == server.pid
                assert servers_on(data) == [server.pid]
        finally:
            server.stop()
        # stop() under supervision: the supervisor ends by itself and restarts nothing.
        await asyncio.wait_for(supervisor, 2)
        assert not servers_on(data)
        assert datadir.read_pid_file(data) is None

    with caplog.at_level("WARNING", logger="cim_router.store.embedded"):
        asyncio.run(scenario())
    assert len([r for r in caplog.records if "restarted on port" in r.getMessage()]) == 2
    assert backoff.delay(up_for=0) == 0.2  # two quick exits counted: 0.05, 0.1, then 0.2


async def _replaced(server: EmbeddedRedis, dead: int, timeout: float = 5.0) -> None:
    """Wait until a new server answers in place of pid `dead`."""
    deadline = time.monotonic() + timeout
    while server.pid == dead or not server.ping():
        assert time.monotonic() < deadline, f"redis-server pid {dead} was not replaced"
        await asyncio.sleep(0.01)


def test_the_router_serves_again_with_its_state_after_its_redis_dies(
    policy: Path, data: Path
) -> None:
    server = start(None, policy, data)
    try:
        c = write_state(server)
        # Fsync each second: Redis may hold a write to its file back while the last fsync
        # runs. Give the writes that second; no state to poll tells when they are on disk.
        time.sleep(1.5)
        dead = recorded_pid(data)
        os.kill(dead, signal.SIGKILL)
        wait_for(
            lambda: recorded_pid(data) != dead and servers_on(data) == [recorded_pid(data)],
            what="the private redis-server restarted",
        )
        # Each of the store's connections finds the old server gone on its first use: that
        # call fails and the store reloads, once for reads and once for writes.
        wait_for(lambda: succeeds(lambda: c.get("chat-1")), timeout=10, what="reads again")
        wait_for(lambda: succeeds(lambda: c.agent("bob")), timeout=10, what="writes again")
        state_is_there(c)
        assert c.get_agent("bob").id == "bob"
        wait_for(lambda: serving(server.address), what="SERVING")
    finally:
        assert server.terminate() == 0
    assert not servers_on(data)
