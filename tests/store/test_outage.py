"""Redis goes away under load: RPCs fail fast with UNAVAILABLE and change nothing, health
says NOT_SERVING; Redis comes back: the server reloads and serves again, nothing
acknowledged lost."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import redis
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cim_router._pb import router_pb2 as pb
from cim_router.store import EmbeddedRedis, RedisSettings
from cim_router.store.embedded import free_port
from cim_router.store.keys import Keys
from tests.service.conftest import Running, fast_policy, start_server, wait_for


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A Redis of this test's own, with append-only persistence, that it may kill."""
    server = EmbeddedRedis(tmp_path / "redis", port=free_port()).start()
    yield server
    server.stop()


def health(running: Running) -> int:
    with grpc.insecure_channel(running.server.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        status: int = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2).status
        return status


def test_outage_fails_fast_changes_nothing_and_recovers(own_redis: EmbeddedRedis) -> None:
    settings = RedisSettings.from_url(own_redis.url, reconnect_seconds=0.05)
    running = start_server(fast_policy(offer_timeout_seconds=30.0), settings)
    try:
        client = running.client()
        client.agent("a1")
        acked: list[str] = []
        refused: list[str] = []
        stop = threading.Event()

        def load() -> None:
            me = running.client()
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    me.enqueue(f"i{n}", timeout=2)
                    acked.append(f"i{n}")
                except grpc.RpcError as err:
                    assert err.code() == grpc.StatusCode.UNAVAILABLE, err
                    refused.append(f"i{n}")
                    time.sleep(0.01)

        driver = threading.Thread(target=load)
        driver.start()
        wait_for(lambda: len(acked) >= 20, what="load before the outage")
        own_redis.kill()
        wait_for(lambda: len(refused) >= 5, what="refusals during the outage")
        # While Redis is down: every call fails fast, health says so.
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as caught:
            client.get_agent("a1")
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert time.monotonic() - started < 1.0
        assert health(running) == health_pb2.HealthCheckResponse.NOT_SERVING
        acked_during = len(acked)

        own_redis.start()  # same port, same append-only file
        wait_for(
            lambda: health(running) == health_pb2.HealthCheckResponse.SERVING,
            timeout=10,
            what="SERVING after Redis returns",
        )
        wait_for(lambda: len(acked) > acked_during + 5, what="load resumes")
        stop.set()
        driver.join(10)
        for iid in acked:
            assert client.get(iid).id == iid  # nothing acknowledged was lost
        # Nothing half-written: a stored interaction is open, and has its history.
        r = redis.Redis.from_url(own_redis.url)
        keys = Keys(settings.prefix)
        open_ids = {str(i, "utf-8") for i in r.smembers(keys.open("default"))}  # type: ignore[arg-type]
        for iid in refused:
            stored = r.exists(keys.interaction("default", iid))
            assert bool(stored) == (iid in open_ids)
            assert bool(stored) == bool(r.llen(keys.history("default", iid)))
        assert set(acked) <= open_ids
        r.close()
        held = {c.channel: c.count for c in client.get_agent("a1").load}
        assert held.get(pb.CHANNEL_CHAT, 0) >= 1  # routing goes on: a1 holds chats
    finally:
        running.stop()
