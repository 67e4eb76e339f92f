"""A real router server on a free port, in its own thread and event loop, per test."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest

from cim_router._pb import router_pb2 as pb
from cim_router._pb import router_pb2_grpc
from cim_router.domain.channel import Channel
from cim_router.domain.policy import Policy
from cim_router.service.server import Server
from cim_router.store import RedisSettings, RedisStore
from tests.redis_server import drop_prefix, redis_url, unique_prefix


def fast_policy(**overrides: Any) -> Policy:
    """Timeouts short enough for tests to watch them happen."""
    settings: dict[str, Any] = {
        "offer_timeout_seconds": 0.4,
        "max_missed_offers": 2,
        "wrap_up_seconds": dict.fromkeys(Channel, 0.2),
        "relaxation": (),
    }
    settings.update(overrides)
    return Policy(**settings)


class Client:
    """The Router stub with a tenant and a default deadline on every call."""

    def __init__(self, channel: grpc.Channel, tenant: str = "default") -> None:
        self.stub = router_pb2_grpc.RouterStub(channel)
        self.tenant = tenant

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.stub, name)

        def call(request: Any, timeout: float = 5.0, **kwargs: Any) -> Any:
            return method(request, timeout=timeout, metadata=(("x-cim-tenant", self.tenant),))

        return call

    # The calls most tests make, in one line each.
    def agent(self, agent_id: str, **kw: Any) -> pb.Agent:
        kw.setdefault("state", pb.AGENT_STATE_AVAILABLE)
        result: pb.Agent = self.UpsertAgent(pb.UpsertAgentRequest(agent_id=agent_id, **kw))
        return result

    def enqueue(self, interaction_id: str, timeout: float = 5.0, **kw: Any) -> pb.EnqueueResponse:
        kw.setdefault("channel", pb.CHANNEL_CHAT)
        result: pb.EnqueueResponse = self.Enqueue(
            pb.EnqueueRequest(interaction_id=interaction_id, **kw), timeout=timeout
        )
        return result

    def get(self, interaction_id: str) -> pb.Interaction:
        result: pb.Interaction = self.GetInteraction(
            pb.GetInteractionRequest(interaction_id=interaction_id)
        )
        return result

    def get_agent(self, agent_id: str) -> pb.Agent:
        result: pb.Agent = self.GetAgent(pb.GetAgentRequest(agent_id=agent_id))
        return result


@dataclass
class Running:
    server: Server
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    settings: RedisSettings
    channels: list[grpc.Channel] = field(default_factory=list)

    def client(self, tenant: str = "default") -> Client:
        channel = grpc.insecure_channel(self.server.address)
        self.channels.append(channel)
        return Client(channel, tenant)

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self, grace: float = 2.0) -> None:
        for channel in self.channels:
            channel.close()
        if self.thread.is_alive():
            self.run(self.server.stop(grace))
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


def start_server(
    policy: Policy | None = None, settings: RedisSettings | None = None, **kw: Any
) -> Running:
    """A server on a free port over a real Redis, under a key prefix of its own unless
    `settings` says otherwise (pass the same settings to restart on the same state)."""
    settings = settings or RedisSettings.from_url(redis_url(), prefix=unique_prefix())
    loop = asyncio.new_event_loop()
    server_box: list[Server] = []
    errors: list[BaseException] = []
    ready = threading.Event()

    def main() -> None:
        asyncio.set_event_loop(loop)

        async def boot() -> None:
            server = Server(
                "127.0.0.1", 0, store=RedisStore(settings), policy=policy or fast_policy(), **kw
            )
            await server.start()
            server_box.append(server)

        try:
            loop.run_until_complete(boot())
        except BaseException as exc:  # reported by the caller
            errors.append(exc)
            ready.set()
            return
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    if not ready.wait(30) or errors:
        raise RuntimeError(f"server did not start: {errors}")
    return Running(server_box[0], loop, thread, settings)


@pytest.fixture
def policy() -> Policy:
    return fast_policy()


@pytest.fixture
def running(policy: Policy) -> Iterator[Running]:
    r = start_server(policy)
    try:
        yield r
    finally:
        r.stop()
        drop_prefix(r.settings.prefix)


@pytest.fixture
def client(running: Running) -> Client:
    return running.client()


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll until `predicate` holds; for effects of the server's own clock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def assigned(client: Client) -> Client:
    """i1 ASSIGNED to a1 (chat); a2 available with room."""
    client.agent("a1", skills={"billing": 5})
    client.enqueue("i1")
    client.Accept(pb.AcceptRequest(interaction_id="i1", agent_id="a1"))
    client.agent("a2", skills={"billing": 5})
    return client
