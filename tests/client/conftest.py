"""A real router on a free port per test (the service tests' server), and client helpers."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Iterator
from typing import TypeVar

import pytest

from cim_router.client import RouterClient
from cim_router.service.server import Server
from cim_router.store import RedisSettings, RedisStore
from tests.redis_server import drop_prefix, redis_url, unique_prefix
from tests.service.conftest import Running, fast_policy
from tests.service.conftest import policy as service_policy
from tests.service.conftest import running as service_running

T = TypeVar("T")


# The service tests' server fixtures, shared: a real router over Redis per test.
running = service_running
policy = service_policy


@pytest.fixture
def target(running: Running) -> str:
    return running.server.address


@pytest.fixture
def sync_client(target: str) -> Iterator[RouterClient]:
    with RouterClient(target, timeout=5.0) as client:
        yield client


def run(coro: Awaitable[T]) -> T:
    """Run one async scenario in a fresh event loop (the server runs in its own thread)."""

    async def main() -> T:
        return await coro

    return asyncio.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


class LateServer:
    """A router that starts listening on `port` only after `delay` seconds."""

    def __init__(self, port: int, delay: float) -> None:
        self.port = port
        self.delay = delay
        self.prefix = unique_prefix()
        self.loop = asyncio.new_event_loop()
        self.server: Server | None = None
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def boot() -> None:
            await asyncio.sleep(self.delay)
            store = RedisStore(RedisSettings.from_url(redis_url(), prefix=self.prefix))
            self.server = Server("127.0.0.1", self.port, store=store, policy=fast_policy())
            await self.server.start()

        self.loop.run_until_complete(boot())
        self.started.set()
        self.loop.run_forever()

    def stop(self) -> None:
        if not self.started.wait(self.delay + 10) or self.server is None:
            raise RuntimeError("the late server did not start")
        asyncio.run_coroutine_threadsafe(self.server.stop(1.0), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        drop_prefix(self.prefix)
