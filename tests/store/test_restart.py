"""A server restarted on the same Redis picks up where it stopped: the queue in its order
with its enqueue times, offers in flight back in the queue, agents with their state and
load, context, history and the customer's link across channels."""

from __future__ import annotations

import time

import redis
from google.protobuf import struct_pb2

from cim_router._pb import router_pb2 as pb
from cim_router.domain.channel import Channel
from cim_router.store import compact
from cim_router.store.keys import Keys
from tests.redis_server import drop_prefix
from tests.service.conftest import fast_policy, start_server, wait_for


def test_restart_restores_queue_offers_agents_context_and_customer_links() -> None:
    policy = fast_policy(offer_timeout_seconds=30.0, wrap_up_seconds=dict.fromkeys(Channel, 0.0))
    first = start_server(policy)
    settings = first.settings
    try:
        c = first.client()
        c.agent("busy", skills={"billing": 5})
        c.enqueue(
            "held", customer_id="cust-1", required_skills=[pb.SkillRequirement(skill="billing")]
        )
        c.Accept(pb.AcceptRequest(interaction_id="held", agent_id="busy"))
        context = struct_pb2.Struct()
        context.update({"order": "A-17", "basket": [1, 2]})
        c.UpdateContext(pb.UpdateContextRequest(interaction_id="held", context=context))
        c.agent("offered-to", skills={"spanish": 5})
        c.enqueue("in-flight", required_skills=[pb.SkillRequirement(skill="spanish")])
        assert c.get("in-flight").offer.agent_id == "offered-to"
        for k, priority in enumerate([10, 90, 50, 90]):
            c.enqueue(f"q{k}", priority=priority, required_skills=[pb.SkillRequirement(skill="x")])
        router = first.server.tenants.routers()[0]
        order_before = first.run(_queue_order(router))
        enqueued_before = {f"q{k}": c.get(f"q{k}").enqueued_at for k in range(4)}
        held_before = c.get("held")
    finally:
        first.stop()

    second = start_server(policy, settings)
    try:
        c = second.client()
        router = second.server.tenants.routers()[0]
        # The waiting ones keep their order and enqueue times.
        order_after = second.run(_queue_order(router))
        assert [i for i in order_after if i.startswith("q")] == order_before
        for iid, at in enqueued_before.items():
            assert c.get(iid).enqueued_at == at
        # The offer in flight went back to the queue and was offered afresh.
        wait_for(lambda: bool(c.get("in-flight").offer.agent_id), what="in-flight re-offered")
        flight = c.get("in-flight")
        types = [e.type for e in flight.history]
        assert pb.EVENT_TYPE_OFFER_WITHDRAWN in types and pb.EVENT_TYPE_REQUEUED in types
        assert flight.offer.agent_id == "offered-to"
        assert flight.offer.offered_at.ToDatetime() > held_before.enqueued_at.ToDatetime()
        # The agent holding a chat still holds it; context and history are intact.
        held = c.get("held")
        assert held.state == pb.INTERACTION_STATE_ASSIGNED and held.agent_id == "busy"
        assert [e.type for e in held.history] == [e.type for e in held_before.history]
        assert dict(held.context) == {"order": "A-17", "basket": [1.0, 2.0]}
        busy = c.get_agent("busy")
        assert busy.state == pb.AGENT_STATE_AVAILABLE
        assert {x.channel: x.count for x in busy.load} == {pb.CHANNEL_CHAT: 1}
        # The customer comes back on voice: linked to the earlier chat, sticky to its agent.
        c.Complete(pb.CompleteRequest(interaction_id="held", csat=4))
        call = c.enqueue("call", channel=pb.CHANNEL_VOICE, customer_id="cust-1").interaction
        assert call.linked_interaction_id == "held"
        assert call.preferred_agent_id == "busy"
        assert call.context["order"] == "A-17"
        assert call.offer.agent_id == "busy"
        # Counters survived too.
        stats = c.GetStats(pb.GetStatsRequest())
        assert stats.answered == 1 and stats.completed == 1
    finally:
        second.stop()
    _check_retention(settings.prefix, settings.retention_seconds)
    drop_prefix(settings.prefix)


async def _queue_order(router: object) -> list[str]:
    from cim_router.tenant.router import TenantRouter

    assert isinstance(router, TenantRouter)
    return router.engine.core.queue_order(time.time())


def _check_retention(prefix: str, retention: int) -> None:
    """Closed interactions expire after the retention, open ones never; every event is
    also in the tenant's stream."""
    from tests.redis_server import redis_url

    r = redis.Redis.from_url(redis_url())
    keys = Keys(prefix)
    try:
        ttl = r.ttl(keys.interaction("default", "held"))
        assert retention - 60 < ttl <= retention
        # Its history went into its record when it closed, under the record's TTL: no list
        # is left, with a TTL or without.
        stored = r.get(keys.interaction("default", "held"))
        assert isinstance(stored, bytes)
        history = len(compact.folded_history(stored))
        assert history > 0
        assert r.exists(keys.history("default", "held")) == 0
        assert r.ttl(keys.interaction("default", "q0")) == -1
        assert r.llen(keys.history("default", "q0")) > 0  # an open one's stays a list
        assert r.sismember(keys.open("default"), "q0")
        assert not r.sismember(keys.open("default"), "held")
        assert r.xlen(keys.events("default")) >= history
    finally:
        r.close()
