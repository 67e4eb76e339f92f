"""API keys made and revoked by `cim-router keys` on a running server's Redis: they take
effect without a restart, the key is printed once and stored only as a hash, and `keys list`
never shows a secret or a hash."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cim_router._pb import router_pb2 as pb
from tests.service.auth_support import (
    OK,
    UNAUTHENTICATED,
    AuthServer,
    key_id,
    provision,
    run_cli,
    serving,
)
from tests.service.conftest import wait_for

STATS = pb.GetStatsRequest()


@pytest.fixture
def server() -> Iterator[AuthServer]:
    yield from serving()


def _secret(token: str) -> str:
    return token.split("_", 2)[2]


def test_a_key_made_by_the_cli_works_at_once_and_a_revoked_one_stops_within_a_second(
    server: AuthServer,
) -> None:
    provision(server, "acme")
    token = server.new_key("acme", "viewer")
    caller = server.caller(token)
    assert caller.call("GetStats", STATS)[0] == OK
    server.revoke(token)
    revoked_at = time.monotonic()
    wait_for(lambda: caller.call("GetStats", STATS)[0] == UNAUTHENTICATED, 3.0, "revocation")
    assert time.monotonic() - revoked_at < 2.0
    code, details = caller.call("GetStats", STATS)
    assert (code, details) == (UNAUTHENTICATED, "invalid or revoked API key")


def test_keys_create_in_a_subprocess_prints_the_key_and_nothing_else(
    server: AuthServer,
) -> None:
    provision(server, "acme")
    argv = ["keys", "create", "--tenant", "acme", "--role", "router", "--name", "acd"]
    done = subprocess.run(
        [sys.executable, "-m", "cim_router.cli", *argv, *server.store_flags()],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and done.stdout == lines[0] + "\n"
    token = lines[0]
    assert key_id(token) in done.stderr and _secret(token) not in done.stderr
    assert server.caller(token).call("GetStats", STATS)[0] == OK


def test_only_the_hash_of_the_secret_is_stored_and_list_shows_neither(
    server: AuthServer,
) -> None:
    tokens = [server.new_key("acme", "agent", "--agent-id", "ann", "--name", "desk")]
    tokens.append(server.new_key("*", "admin"))
    server.revoke(tokens[1])
    r = server.redis()
    try:
        stored = b"".join(r.hvals(f"{server.prefix}:apikeys"))  # type: ignore[arg-type]
    finally:
        r.close()
    for token in tokens:
        digest = hashlib.sha256(_secret(token).encode()).hexdigest()
        assert digest.encode() in stored
        assert _secret(token).encode() not in stored
    status, text, _ = run_cli("keys", "list", *server.store_flags())
    status_json, data, _ = run_cli("keys", "list", "--json", *server.store_flags())
    assert status == status_json == 0
    listed = json.loads(data)["keys"]
    assert {k["key_id"] for k in listed} == {key_id(t) for t in tokens}
    by_id = {k["key_id"]: k for k in listed}
    assert by_id[key_id(tokens[0])]["agent_id"] == "ann"
    assert by_id[key_id(tokens[0])]["revoked_at"] is None
    assert by_id[key_id(tokens[1])]["revoked_at"] is not None
    for token in tokens:
        digest = hashlib.sha256(_secret(token).encode()).hexdigest()
        for out in (text, data):
            assert key_id(token) in out
            assert _secret(token) not in out and digest not in out


@pytest.mark.parametrize(
    ("argv", "status", "says"),
    [
        (["--tenant", "acme", "--role", "router", "--agent-id", "a1"], 2, "only for role agent"),
        (["--tenant", "acme", "--role", "agent"], 2, "--agent-id: must not be empty"),
        (["--tenant", "", "--role", "viewer"], 2, "--tenant: must not be empty"),
        (["--tenant", "acme", "--role", "viewer", "--burst", "0"], 2, "--burst"),
    ],
)
def test_keys_create_refuses_a_key_it_cannot_bind(
    server: AuthServer, argv: list[str], status: int, says: str
) -> None:
    got, out, err = run_cli("keys", "create", *argv, *server.store_flags())
    assert (got, out) == (status, "")
    assert says in err
    status, data, _ = run_cli("keys", "list", "--json", *server.store_flags())
    assert json.loads(data)["keys"] == []


def test_revoking_an_unknown_key_fails_and_a_missing_server_is_named(
    server: AuthServer, tmp_path: Path
) -> None:
    status, _, err = run_cli("keys", "revoke", "0123456789abcdef", *server.store_flags())
    assert status == 1 and "no key" in err
    status, _, err = run_cli("keys", "list", "--redis-url", "", "--data-dir", str(tmp_path))
    assert status == 1 and "no server runs on" in err and "--redis-url" in err


def test_the_wrong_secret_of_a_real_key_id_is_refused(server: AuthServer) -> None:
    provision(server, "acme")
    token = server.new_key("acme", "admin")
    forged = f"cimk_{key_id(token)}_{'A' * 43}"
    assert server.caller(forged).call("GetStats", STATS) == (
        UNAUTHENTICATED,
        "invalid or revoked API key",
    )
