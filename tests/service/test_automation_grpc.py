"""Automation rules over real gRPC on a live server and a real Redis: the seed's flow (an
agent's desktop reports negative sentiment on an assigned chat, and the router escalates
it to a supervisor as a warm transfer with its context, without any other call), and the
rules' firings recorded in history, Explain and across a restart."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.protobuf import struct_pb2

from cim_router._pb import router_pb2 as pb
from cim_router.domain.policy import policy_from_mapping
from tests.redis_server import drop_prefix
from tests.service.conftest import Client, Running, start_server

POLICY = {
    "offer_timeout_seconds": 30,
    "rules": [
        {
            "name": "negative-sentiment",
            "when": ["context.sentiment < -0.5", "channel == chat"],
            "then": "escalate",
            "on": ["context"],
            "reason": "negative sentiment",
        },
        {"name": "vip-tag", "when": "customer_tier == vip", "then": "tag", "tag": "vip"},
    ],
}


@pytest.fixture
def running() -> Iterator[Running]:
    r = start_server(policy_from_mapping(POLICY))
    try:
        yield r
    finally:
        r.stop()
        drop_prefix(r.settings.prefix)


def context(**values: Any) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(values)
    return out


def test_the_sentiment_rule_escalates_an_assigned_chat_to_a_supervisor(running: Running) -> None:
    c: Client = running.client()
    c.agent("agent", skills={"support": 5}, tier=1)
    c.enqueue("chat", context=context(order="A-17"), customer_tier="vip")
    assert c.Accept(pb.AcceptRequest(interaction_id="chat", agent_id="agent")).state == (
        pb.INTERACTION_STATE_ASSIGNED
    )
    c.agent("supervisor", skills={"support": 5}, tier=3)
    # The only call: the agent's desktop reports the customer's sentiment.
    c.UpdateContext(pb.UpdateContextRequest(interaction_id="chat", context=context(sentiment=-0.8)))
    got = c.get("chat")
    assert got.escalation_level == 1
    assert got.state == pb.INTERACTION_STATE_ASSIGNED and got.agent_id == "agent"
    assert got.HasField("transfer") and got.offer.agent_id == "supervisor"
    fired = [(e.rule, e.caller) for e in got.history if e.type == pb.EVENT_TYPE_RULE_FIRED]
    assert fired == [("vip-tag", "router"), ("negative-sentiment", "router")]
    assert list(got.tags) == ["vip"]
    why = c.Explain(pb.ExplainRequest(interaction_id="chat"))
    assert list(why.rules_fired) == ["vip-tag", "negative-sentiment"]
    taken = c.Accept(pb.AcceptRequest(interaction_id="chat", agent_id="supervisor"))
    assert taken.agent_id == "supervisor"
    assert dict(taken.context) == {"order": "A-17", "sentiment": -0.8}


def test_rules_fired_and_tags_survive_a_restart(running: Running) -> None:
    c = running.client()
    c.enqueue("chat", customer_tier="vip")
    settings = running.settings
    running.stop()
    again = start_server(policy_from_mapping(POLICY), settings)
    try:
        got = again.client().get("chat")
        assert list(got.tags) == ["vip"]
        why = again.client().Explain(pb.ExplainRequest(interaction_id="chat"))
        assert list(why.rules_fired) == ["vip-tag"]
    finally:
        again.stop()
