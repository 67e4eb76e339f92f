"""The private Redis requires a password: random, kept in the data directory in a file only
its owner reads, never on redis-server's command line, reused by the next start, and part
of the URL the operator CLI gets from `private_redis_url`."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest
import redis

from cim_router.store import datadir
from cim_router.store.embedded import EmbeddedRedis


def test_the_password_file_is_the_owners_alone_and_redis_requires_it(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "data", persistent=False) as server:
        path = server.data_dir / datadir.PASSWORD_FILE
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(server.data_dir.stat().st_mode) == 0o700  # made by the start
        password = path.read_text().strip()
        assert len(password) >= 40 and password == server.password
        with socket.create_connection(("127.0.0.1", server.port), timeout=2) as anonymous:
            anonymous.sendall(b"GET x\r\n")
            assert anonymous.recv(64).startswith(b"-NOAUTH Authentication required")
        anonymous_client = redis.Redis(host="127.0.0.1", port=server.port)
        wrong = redis.Redis(host="127.0.0.1", port=server.port, password="wrong")
        for refused in (anonymous_client, wrong):
            with refused, pytest.raises(redis.AuthenticationError):
                refused.ping()
        with redis.Redis.from_url(server.url) as client:
            assert client.ping()
            assert client.config_get("bind")["bind"] == "127.0.0.1"


def test_the_password_is_not_on_the_command_line_nor_in_the_log(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "data", persistent=False) as server:
        assert server.pid is not None
        cmdline = Path(f"/proc/{server.pid}/cmdline").read_bytes()
        assert server.password.encode() not in cmdline
        assert b"--dir\0" + str(server.data_dir).encode() in cmdline  # still recognisable
        assert server.password not in repr(server)
        assert server.password not in server.address
        assert datadir.is_server_of(server.pid, server.data_dir)
    log = (tmp_path / "data" / "redis.log").read_text()
    assert server.password not in log


def test_a_restart_reuses_the_password_and_the_cli_url_carries_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with EmbeddedRedis(data) as first:
        url = datadir.private_redis_url(data)
        assert url == f"redis://:{first.password}@127.0.0.1:{first.port}/0"
        with redis.Redis.from_url(url) as client:
            client.set("kept", "1")
        password = first.password
    assert datadir.private_redis_url(data) is None  # none running there now
    (data / datadir.PASSWORD_FILE).chmod(0o644)  # loosened by hand: tightened at start
    with EmbeddedRedis(data) as second:
        assert second.password == password
        assert stat.S_IMODE((data / datadir.PASSWORD_FILE).stat().st_mode) == 0o600
        url = datadir.private_redis_url(data)
        assert url is not None and password in url
        with redis.Redis.from_url(url) as client:
            assert client.get("kept") == b"1"


def test_a_new_directory_gets_a_new_password(tmp_path: Path) -> None:
    one = datadir.ensure_password(tmp_path)
    assert datadir.ensure_password(tmp_path) == one
    other = tmp_path / "other"
    other.mkdir()
    assert datadir.ensure_password(other) != one
