"""Tenants cost nothing until they write: reads and refused writes of an unknown tenant
create nothing, in memory or in Redis; streams and waiting calls are capped per tenant."""

from __future__ import annotations

import threading
from typing import Any

import grpc
import pytest
import redis

from cim_router._pb import router_pb2 as pb
from cim_router.store.keys import Keys
from cim_router.tenant.registry import TenantLimits
from tests.redis_server import drop_prefix, redis_url
from tests.service.conftest import Client, Running, start_server, wait_for


def _tenant_set(running: Running) -> set[bytes]:
    r = redis.Redis.from_url(redis_url())
    try:
        return set(r.smembers(Keys(running.settings.prefix).tenants()))  # type: ignore[arg-type]
    finally:
        r.close()


def _code(call: Any) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def test_reads_and_refused_writes_of_unknown_tenants_create_nothing(running: Running) -> None:
    running.client("known").agent("ann")
    before = _tenant_set(running)
    assert before == {b"known"}
    for n in range(50):
        c = running.client(f"ghost-{n}")
        stats = c.GetStats(pb.GetStatsRequest())
        assert stats.waiting == 0 and stats.offered == 0
        assert list(c.ListAgents(pb.ListAgentsRequest()).agents) == []
        assert _code(lambda c=c: c.get_agent("ann")) == grpc.StatusCode.NOT_FOUND
        assert _code(lambda c=c: c.get("i1")) == grpc.StatusCode.NOT_FOUND
        assert (
            _code(lambda c=c: c.Accept(pb.AcceptRequest(interaction_id="i1", agent_id="a")))
            == grpc.StatusCode.NOT_FOUND
        )
        # A write the router refuses leaves no tenant behind either.
        refused = pb.EnqueueRequest(interaction_id="i1", channel=pb.CHANNEL_CHAT, priority=101)
        assert (
            _code(lambda c=c, refused=refused: c.Enqueue(refused))
            == grpc.StatusCode.INVALID_ARGUMENT
        )
        assert _code(lambda c=c: c.enqueue("i2", customer_tier="nope")) == (
            grpc.StatusCode.INVALID_ARGUMENT
        )
    assert _tenant_set(running) == before
    assert [r.tenant for r in running.server.tenants.routers()] == ["known"]
    # The first write creates the tenant, in memory and in Redis.
    running.client("new").enqueue("i1")
    assert _tenant_set(running) == {b"known", b"new"}


def test_an_idle_tenant_has_no_timers(running: Running) -> None:
    c = running.client("quiet")
    c.agent("ann")
    c.enqueue("chat-1")
    c.Accept(pb.AcceptRequest(interaction_id="chat-1", agent_id="ann"))
    c.Complete(pb.CompleteRequest(interaction_id="chat-1"))
    timers = running.server.tenants.timers
    # Wrap-up ends, then nothing is left to fire: the clock task sleeps.
    wait_for(lambda: c.get("chat-1").state == pb.INTERACTION_STATE_COMPLETED)
    wait_for(lambda: len(timers) == 0, what="no timers left")


@pytest.fixture
def capped() -> Any:
    running = start_server(limits=TenantLimits(max_watch_streams=2, max_parked_assigns=1))
    yield running
    running.stop()
    drop_prefix(running.settings.prefix)


def _open_stream(client: Client) -> Any:
    stream = client.stub.WatchAssignments(
        pb.WatchAssignmentsRequest(), metadata=(("x-cim-tenant", client.tenant),)
    )
    return stream


def test_watch_streams_are_capped_per_tenant_and_free_up(capped: Running) -> None:
    c = capped.client("t")
    c.agent("ann")
    router = capped.server.tenants.find("t")
    assert router is not None
    first, second = _open_stream(c), _open_stream(c)
    wait_for(lambda: len(router.hub) == 2, what="two streams open")
    third = _open_stream(c)
    with pytest.raises(grpc.RpcError) as refused:
        next(third)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # Another tenant has its own allowance.
    other = _open_stream(capped.client("u"))
    wait_for(lambda: (found := capped.server.tenants.find("u")) is not None and len(found.hub) == 1)
    first.cancel()
    wait_for(lambda: len(router.hub) == 1, what="a stream closed")
    fourth = _open_stream(c)
    c.enqueue("chat-1")
    event = next(fourth)
    assert event.type == pb.ASSIGNMENT_EVENT_TYPE_OFFERED and event.agent_id == "ann"
    for s in (second, fourth, other):
        s.cancel()


def test_waiting_assign_calls_are_capped_per_tenant(capped: Running) -> None:
    c = capped.client("t")
    c.agent("ann")
    c.agent("bo")
    parked: list[Any] = []

    def park() -> None:
        parked.append(c.Assign(pb.AssignRequest(agent_id="ann", wait=True), timeout=3.0))

    waiter = threading.Thread(target=park)
    waiter.start()
    router = capped.server.tenants.find("t")
    assert router is not None
    wait_for(lambda: router.hub.count("Assign") == 1, what="one Assign parked")
    with pytest.raises(grpc.RpcError) as refused:
        c.Assign(pb.AssignRequest(agent_id="bo", wait=True), timeout=3.0)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    c.enqueue("chat-1", preferred_agent_id="ann")
    waiter.join(5)
    assert parked and parked[0].matched
    assert router.hub.count("Assign") == 0
