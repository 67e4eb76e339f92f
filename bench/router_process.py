"""`cim-router serve` as a child process on the test Redis, under a key prefix of its own,
and what /proc tells about it (CPU time, resident memory). The end-to-end, Session and
soak benchmarks share it."""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.redis_server import drop_prefix, redis_url, unique_prefix

# Offers stay open longer than any run, wrap-up is off: every offer is answered and every
# agent is back at once, so the figures are the router's, not the simulated people's.
POLICY = """\
offer_timeout_seconds = 15

[wrap_up_seconds]
voice = 0
video = 0
chat = 0
sms = 0
social = 0
email = 0
"""


@dataclass(frozen=True)
class Served:
    address: str
    pid: int


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a child process; None where /proc is not there."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int | None:
    """Resident set size of a process in KiB (VmRSS); None where /proc is not there."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])  # "VmRSS:   123456 kB"
    return None


@contextlib.contextmanager
def serving(
    tmp: Path, env: Mapping[str, str] | None = None, module: str = "cim_router.cli"
) -> Iterator[Served]:
    """`cim-router serve` on the test Redis under a prefix of its own; `env`: variables
    added to the server's environment; `module`: what `python -m` runs (the router's CLI,
    or a wrapper of it)."""
    policy = tmp / "policy.toml"
    policy.write_text(POLICY)
    prefix = unique_prefix()
    url = redis_url()
    url += ("&" if "?" in url else "?") + f"prefix={prefix}"
    argv = ["serve", "--host", "127.0.0.1", "--grpc-port", "0", "--metrics-port", "0",
            "--redis-url", url, "--policy", str(policy), "--log-level", "WARNING"]  # fmt: skip
    log_path = tmp / f"server-{prefix}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *argv],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**os.environ, **(env or {})},
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line.startswith("cim-router listening on "):
                raise RuntimeError(f"server did not start: {line!r} {log_path.read_text()}")
            yield Served(line.split()[-1], proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            drop_prefix(prefix)


@contextlib.contextmanager
def floor() -> Iterator[Served]:
    """The transport floor: the no-op grpc.aio server of the same service
    (`bench/noop_server.py`), as a child process."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.noop_server"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        yield Served(proc.stdout.readline().split()[-1], proc.pid)
    finally:
        proc.kill()
        proc.wait(5)
