"""The Redis the tests use: `CIM_TEST_REDIS_URL` if set, else a private redis-server on a
free port, started once per test session. Each test server writes under its own key
prefix, so tests never see each other's keys and never touch anything else."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import redis

from cim_router.store.embedded import EmbeddedRedis

TEST_PREFIX = "cimtest"

_private: EmbeddedRedis | None = None


def redis_url() -> str:
    url = os.environ.get("CIM_TEST_REDIS_URL")
    if url:
        return url
    global _private
    if _private is None:
        data_dir = Path(tempfile.mkdtemp(prefix="cim-test-redis-"))
        _private = EmbeddedRedis(data_dir, persistent=False).start()
        atexit.register(shutil.rmtree, data_dir, True)
        atexit.register(_private.stop)
    return _private.url


def unique_prefix() -> str:
    return f"{TEST_PREFIX}-{uuid.uuid4().hex[:12]}"


def drop_prefix(prefix: str) -> None:
    """Delete every key a test server wrote under `prefix`."""
    client = redis.Redis.from_url(redis_url())
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for n in range(0, len(keys), 1000):
            client.delete(*keys[n : n + 1000])
    finally:
        client.close()


def drop_all_test_keys() -> None:
    """Delete whatever any test server of this suite left behind."""
    drop_prefix(f"{TEST_PREFIX}-*")
