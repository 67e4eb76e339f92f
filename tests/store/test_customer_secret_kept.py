"""A secret kept in Redis outlives Redis losing its data: the server that notices stores
the one it uses again, so that the next server names customers' keys as it did."""

from __future__ import annotations

import contextlib
from pathlib import Path

import grpc
import redis
from grpc_health.v1 import health_pb2

from cim_router.store import EmbeddedRedis, RedisSettings
from cim_router.store.datadir import PASSWORD_FILE
from cim_router.store.embedded import free_port
from cim_router.store.keys import Keys
from tests.service.conftest import fast_policy, start_server, wait_for
from tests.store.test_outage import health


def test_a_secret_kept_in_redis_is_stored_again_after_redis_lost_its_data(
    tmp_path: Path,
) -> None:
    port = free_port()
    first = EmbeddedRedis(tmp_path / "a", port=port, persistent=False).start()
    settings = RedisSettings.from_url(first.url, reconnect_seconds=0.05)
    running = start_server(fast_policy(), settings)
    second: EmbeddedRedis | None = None
    try:
        running.client().enqueue("i1", customer_id="alice")
        key = Keys(settings.prefix).customer_secret_key()
        r = redis.Redis.from_url(first.url)
        secret = r.get(key)
        assert secret
        first.stop()  # not persistent: its data is gone
        # A new Redis on the same port and password, without the data.
        (tmp_path / "b").mkdir(mode=0o700)
        (tmp_path / "b" / PASSWORD_FILE).write_bytes((tmp_path / "a" / PASSWORD_FILE).read_bytes())
        (tmp_path / "b" / PASSWORD_FILE).chmod(0o600)
        second = EmbeddedRedis(tmp_path / "b", port=port, persistent=False).start()
        assert r.get(key) is None
        with contextlib.suppress(grpc.RpcError):  # the write that notices (UNAVAILABLE)
            running.client().enqueue("i2", customer_id="alice")
        wait_for(lambda: r.get(key) is not None, what="the secret stored again")
        assert r.get(key) == secret
        wait_for(lambda: health(running) == health_pb2.HealthCheckResponse.SERVING)
        r.close()
    finally:
        running.stop()
        if second is not None:
            second.stop()
