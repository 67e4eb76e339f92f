"""Fault paths against a Redis of the test's own: reads after an outage, a takeover by
another server, a write that hangs, and records that cannot be loaded."""

from __future__ import annotations

import dataclasses
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import orjson
import pytest
import redis
from grpc_health.v1 import health_pb2

from cim_router._pb import router_pb2 as pb
from cim_router.domain.interaction import SkillRequirement
from cim_router.store import EmbeddedRedis, RedisSettings, codec, compact
from cim_router.store.embedded import free_port
from cim_router.store.keys import Keys
from tests.service.conftest import Running, fast_policy, start_server, wait_for
from tests.store.test_outage import health

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "redis", port=free_port()).start()
    yield server
    server.stop()


def _settings(own: EmbeddedRedis, **kw: float) -> RedisSettings:
    return RedisSettings.from_url(own.url, reconnect_seconds=0.05, **kw)


def _code(call: object) -> grpc.StatusCode:
    try:
        call()  # type: ignore[operator]
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def test_reads_of_a_quiet_tenant_serve_again_after_an_outage_lost_a_write(
    own_redis: EmbeddedRedis,
) -> None:
    running = start_server(fast_policy(), _settings(own_redis))
    try:
        writer, quiet = running.client("busy"), running.client("quiet")
        writer.agent("ann")
        quiet.agent("bo")
        own_redis.kill()
        assert _code(lambda: writer.enqueue("lost")) == grpc.StatusCode.UNAVAILABLE
        own_redis.start()
        wait_for(lambda: health(running) == SERVING, timeout=10, what="SERVING again")
        # No write since: every read of both tenants answers.
        assert quiet.get_agent("bo").id == "bo"
        assert writer.get_agent("ann").id == "ann"
        assert quiet.GetStats(pb.GetStatsRequest()).waiting == 0
        assert [a.id for a in writer.ListAgents(pb.ListAgentsRequest()).agents] == ["ann"]
    finally:
        running.stop()


def test_an_idle_server_that_is_taken_over_stops_serving_at_once(own_redis: EmbeddedRedis) -> None:
    settings = _settings(own_redis, fence_check_seconds=0.1)
    first = start_server(fast_policy(), settings)
    second: Running | None = None
    try:
        c = first.client()
        c.agent("ann")
        second = start_server(fast_policy(), settings)  # takes a new epoch
        wait_for(lambda: health(first) == NOT_SERVING, timeout=3, what="NOT_SERVING")
        assert first.server.fenced.is_set()
        assert _code(lambda: c.get_agent("ann")) == grpc.StatusCode.UNAVAILABLE
        assert _code(lambda: first.client("other").agent("x")) == grpc.StatusCode.UNAVAILABLE
        # The fenced server wrote nothing: not even a new tenant.
        r = redis.Redis.from_url(own_redis.url)
        assert r.smembers(Keys(settings.prefix).tenants()) == {b"default"}
        r.close()
        assert second.client().get_agent("ann").id == "ann"
    finally:
        first.stop()
        if second is not None:
            second.stop()


def test_a_retry_with_the_same_request_id_does_not_apply_twice(own_redis: EmbeddedRedis) -> None:
    """A write in flight when Redis hangs may be applied although the caller was told
    UNAVAILABLE; the retry with the same request id then answers with its outcome."""
    running = start_server(
        fast_policy(offer_timeout_seconds=30), _settings(own_redis, command_timeout=0.3)
    )
    try:
        c = running.client()
        c.agent("ann")
        c.enqueue("chat-1")
        pid = own_redis.pid
        assert pid is not None
        accept = pb.AcceptRequest(interaction_id="chat-1", agent_id="ann")
        meta = (("x-cim-request-id", "req-1"),)
        os.kill(pid, signal.SIGSTOP)
        try:
            with pytest.raises(grpc.RpcError) as hung:
                c.stub.Accept(accept, timeout=5, metadata=meta)
            assert hung.value.code() == grpc.StatusCode.UNAVAILABLE
        finally:
            os.kill(pid, signal.SIGCONT)  # the write that was sent is applied now
        wait_for(lambda: health(running) == SERVING, timeout=10, what="SERVING again")
        again = c.stub.Accept(accept, timeout=5, metadata=meta)
        assert again.state == pb.INTERACTION_STATE_ASSIGNED and again.agent_id == "ann"
        history = [e.type for e in c.get("chat-1").history]
        assert history.count(pb.EVENT_TYPE_ACCEPTED) == 1
        # The same id for another request is refused, and changes nothing.
        other = pb.CompleteRequest(interaction_id="chat-1")
        with pytest.raises(grpc.RpcError) as reused:
            c.stub.Complete(other, timeout=5, metadata=meta)
        assert reused.value.code() == grpc.StatusCode.ALREADY_EXISTS
        assert c.get("chat-1").state == pb.INTERACTION_STATE_ASSIGNED
    finally:
        running.stop()


def test_request_ids_survive_a_restart(own_redis: EmbeddedRedis) -> None:
    settings = _settings(own_redis)
    first = start_server(fast_policy(offer_timeout_seconds=30), settings)
    meta = (("x-cim-request-id", "enq-1"),)
    request = pb.EnqueueRequest(interaction_id="chat-1", channel=pb.CHANNEL_CHAT)
    try:
        made = first.client().stub.Enqueue(request, timeout=5, metadata=meta)
        assert made.created
        first.client().Cancel(pb.CancelRequest(interaction_id="chat-1"))
    finally:
        first.stop()
    second = start_server(fast_policy(offer_timeout_seconds=30), settings)
    try:
        again = second.client().stub.Enqueue(request, timeout=5, metadata=meta)
        # The first outcome, not a second interaction or a refusal.
        assert again.created and again.interaction.state == pb.INTERACTION_STATE_CANCELLED
    finally:
        second.stop()


def _plant(own: EmbeddedRedis, settings: RedisSettings) -> None:
    """Bad records of several kinds, beside good ones."""
    r = redis.Redis.from_url(own.url)
    k, t = Keys(settings.prefix), "default"
    good = r.get(k.interaction(t, "good"))
    assert good is not None and compact.is_compact(good)
    stored = codec.interaction_in(good, t)
    record = orjson.loads(codec.interaction_out(stored))  # as versions before wrote it

    def small(iid: str, **changes: Any) -> bytes:
        i = dataclasses.replace(stored.interaction, id=iid, **changes)
        return compact.interaction_out(dataclasses.replace(stored, interaction=i))

    bad = {
        "garbage": b"{not json",
        "wrong-type": orjson.dumps({**record, "id": "wrong-type", "ch": "chat"}),
        "level-11": orjson.dumps({**record, "id": "level-11", "req": [["billing", 11]]}),
        "orphan": orjson.dumps({**record, "id": "orphan", "state": 2, "agent": "nobody"}),
        "renamed": orjson.dumps({**record, "id": "someone-else"}),
        "cut-short": good[: len(good) // 2],
        "small-level-11": small("small-level-11", required=(SkillRequirement("billing", 11),)),
        "small-renamed": small("someone-else-too"),
    }
    for iid, data in bad.items():
        r.set(k.interaction(t, iid), data)
        r.sadd(k.open(t), iid)
    r.hset(k.agents(t), "junk", b"[1, 2")
    r.hset(k.agents(t), "tier-9", orjson.dumps({"id": "tier-9", "cap": [1] * 6, "tier": 9}))
    r.rpush(k.history(t, "good"), b"not an event")
    r.hset(k.counters(t), "offered", b"many")
    r.delete(k.events(t))
    r.set(k.events(t), b"not a stream")  # every commit's XADD meets the wrong type
    r.close()


def test_bad_stored_records_are_quarantined_and_the_rest_serves(own_redis: EmbeddedRedis) -> None:
    settings = _settings(own_redis)
    first = start_server(fast_policy(offer_timeout_seconds=30), settings)
    try:
        c = first.client()
        c.agent("ann", skills={"billing": 5}, state=pb.AGENT_STATE_NOT_READY)
        c.enqueue("good", required_skills=[pb.SkillRequirement(skill="billing")])
    finally:
        first.stop()
    _plant(own_redis, settings)
    second = start_server(fast_policy(offer_timeout_seconds=30), settings)
    try:
        c = second.client()
        stats = c.GetStats(pb.GetStatsRequest())
        expected = {
            "agent:junk",
            "agent:tier-9",
            *(
                f"interaction:{i}"
                for i in (
                    "garbage",
                    "wrong-type",
                    "level-11",
                    "orphan",
                    "renamed",
                    "cut-short",
                    "small-level-11",
                    "small-renamed",
                )
            ),
        }
        assert set(stats.quarantined_records) == expected
        assert stats.quarantined == len(expected)
        r = redis.Redis.from_url(own_redis.url)
        listed = r.smembers(Keys(settings.prefix).quarantine("default"))
        assert {m.decode() for m in listed} == expected  # type: ignore[union-attr]
        assert r.exists(Keys(settings.prefix).interaction("default", "garbage"))  # kept
        r.close()
        # The good ones load and serve: the agent routes, the history reads.
        assert [a.id for a in c.ListAgents(pb.ListAgentsRequest()).agents] == ["ann"]
        assert pb.EVENT_TYPE_ENQUEUED in [e.type for e in c.get("good").history]
        c.SetAgentState(pb.SetAgentStateRequest(agent_id="ann", state=pb.AGENT_STATE_AVAILABLE))
        wait_for(lambda: c.get("good").offer.agent_id == "ann", what="good offered")
        # A blip on a running server reloads the tenant, bad records and all.
        own_redis.kill()
        own_redis.start()
        wait_for(lambda: _code(lambda: c.get_agent("ann")) == grpc.StatusCode.OK, timeout=10)
        wait_for(lambda: health(second) == SERVING, timeout=10, what="SERVING after the blip")
        assert c.GetStats(pb.GetStatsRequest()).quarantined == len(expected)
    finally:
        second.stop()
