"""The private Redis's data directory: a lock held by the one router using it, a pid file
naming the redis-server it started, the server's password, and the stopping of a server a
crashed router left.

One router per directory: two redis-servers appending to one file corrupt it, so the lock
is taken before anything starts. A router killed with -9 can leave its redis-server running
(where the child is not made to die with its parent); the next router on the directory
finds it through the pid file and stops it gracefully, so its last writes reach the file.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import logging
import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger(__name__)

LOCK_FILE = "cim-router.lock"
PID_FILE = "redis-server.pid"  # the pid, then the port, one a line
PASSWORD_FILE = "redis-password"  # mode 0600: the private Redis's requirepass
PROC = Path("/proc")


class DataDirError(RuntimeError):
    """The data directory cannot be used."""


class DataDirLocked(DataDirError):
    """Another router holds the data directory."""


@dataclass
class DataDirLock:
    """An exclusive, non-blocking flock on the directory's lock file, held until released or
    the process ends (the kernel drops it then, however the process died)."""

    data_dir: Path
    _fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        path = self.data_dir / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirLocked(
                f"data directory {self.data_dir} is in use by another cim-router "
                f"(it holds {path}); stop it or pass another --data-dir"
            ) from None
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the only descriptor drops the lock


def read_password(data_dir: Path) -> str | None:
    """The private Redis's password kept in `data_dir`, or None if there is none yet."""
    try:
        password = (data_dir / PASSWORD_FILE).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return password or None


def ensure_password(data_dir: Path) -> str:
    """The password of `data_dir`'s private Redis: the one kept there (its file made 0600 if
    it was not), else a new random one written to a new file of mode 0600. A restart on the
    same directory reuses it, so the operator CLI's URL stays valid."""
    path = data_dir / PASSWORD_FILE
    password = read_password(data_dir)
    if password is not None:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return password
    password = secrets.token_urlsafe(32)
    tmp = data_dir / (PASSWORD_FILE + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(password + "\n")
    tmp.replace(path)
    return password


def write_pid_file(data_dir: Path, pid: int, port: int) -> None:
    """Record the running server; replaced whole, so a reader never sees half a file."""
    tmp = data_dir / (PID_FILE + ".tmp")
    tmp.write_text(f"{pid}\n{port}\n", encoding="ascii")
    tmp.replace(data_dir / PID_FILE)


def read_pid_file(data_dir: Path) -> tuple[int, int] | None:
    """(pid, port) of the server last recorded, or None if there is no readable record."""
    try:
        pid, port = (data_dir / PID_FILE).read_text(encoding="ascii").split()
        return int(pid), int(port)
    except (OSError, ValueError):
        return None


def remove_pid_file(data_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (data_dir / PID_FILE).unlink()


def command_line(pid: int) -> list[str]:
    """The arguments `pid` was started with; empty if it is gone or a zombie."""
    if PROC.is_dir():
        try:
            raw = (PROC / str(pid) / "cmdline").read_bytes()
        except OSError:
            return []
        return [a.decode(errors="replace") for a in raw.rstrip(b"\0").split(b"\0")] if raw else []
    # No /proc (macOS, BSD): ps joins the arguments with spaces; a directory with a space
    # in its name then never matches, which errs on the side of not stopping.
    try:
        out = subprocess.run(
            ["ps", "-ww", "-o", "command=", "-p", str(pid)],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return []
    return out.stdout.split()


def is_server_of(pid: int, data_dir: Path) -> bool:
    """Whether `pid` is a redis-server working on `data_dir`: a pid file can outlive its
    process, and the pid be reused by anything."""
    args = command_line(pid)
    if not args or Path(args[0]).name != "redis-server":
        return False
    return any(a == "--dir" and b == str(data_dir) for a, b in itertools.pairwise(args))


def stop_leftover(data_dir: Path, timeout: float = 10.0) -> None:
    """Stop the redis-server a previous router of `data_dir` left running, if there is one.
    Call with the directory's lock held: no router uses that server then."""
    record = read_pid_file(data_dir)
    if record is None:
        return
    pid, port = record
    if not is_server_of(pid, data_dir):
        remove_pid_file(data_dir)  # stale: that server is gone
        return
    log.warning(
        "a redis-server a previous router left (pid %d, port %d) runs on %s; stopping it",
        pid,
        port,
        data_dir,
    )
    # SIGTERM: Redis flushes its append-only file and exits.
    if _signal(pid, signal.SIGTERM) and not _gone(pid, data_dir, timeout):
        log.warning("redis-server pid %d ignored SIGTERM for %.0f s; killing it", pid, timeout)
        _signal(pid, signal.SIGKILL)
        if not _gone(pid, data_dir, timeout):
            raise DataDirError(f"cannot stop redis-server pid {pid} of {data_dir}")
    remove_pid_file(data_dir)
    log.warning("stopped the leftover redis-server pid %d", pid)


def _signal(pid: int, sig: signal.Signals) -> bool:
    """Send `sig`; False if the process is gone already."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        raise DataDirError(f"redis-server pid {pid} is another user's; stop it first") from None
    return True


def _gone(pid: int, data_dir: Path, timeout: float) -> bool:
    """Poll until `pid` is no longer that server (exited, a zombie, or reused)."""
    deadline = time.monotonic() + timeout
    while is_server_of(pid, data_dir):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def private_redis_url(data_dir: Path) -> str | None:
    """The URL of the private Redis a router runs on `data_dir`, with its password
    (redis://:PASSWORD@127.0.0.1:PORT/0), for the operator CLI (keys, tenants) to work on a
    running server's store; None when none is running there. Reading it needs read access to
    the directory's password file, which is its owner's alone."""
    data_dir = data_dir.resolve()
    record = read_pid_file(data_dir)
    if record is None or not is_server_of(record[0], data_dir):
        return None
    password = read_password(data_dir)
    auth = f":{quote(password, safe='')}@" if password else ""
    return f"redis://{auth}127.0.0.1:{record[1]}/0"
