"""Enqueue, accept, reject, complete, cancel, context and history over gRPC."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2

from cim_router._pb import router_pb2 as pb
from cim_router.domain.channel import Channel
from tests.service.conftest import Client, Running, wait_for

Req = pb.SkillRequirement


def ctx(**values: Any) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(values)
    return s


def events(i: pb.Interaction) -> list[str]:
    return [pb.EventType.Name(e.type).removeprefix("EVENT_TYPE_") for e in i.history]


def test_enqueue_without_agents_waits_in_order_with_estimates(client: Client) -> None:
    client.UpsertAgent(pb.UpsertAgentRequest(agent_id="off"))  # staffed later, OFFLINE now
    first = client.enqueue("i1", priority=10)
    second = client.enqueue("i2", priority=50)
    third = client.enqueue("i3", priority=10)
    assert first.interaction.state == pb.INTERACTION_STATE_QUEUED
    assert (second.position, first.position, third.position) == (1, 1, 3)
    again = client.enqueue("i1", priority=10)
    assert not again.created and again.position == 2
    assert third.estimated_wait_seconds > 0
    assert first.interaction.enqueued_at.ToNanoseconds() > 0


def test_enqueue_is_idempotent_and_refuses_a_reused_id(client: Client) -> None:
    a = client.enqueue("i1", customer_id="c1", context=ctx(order=42))
    b = client.enqueue("i1", customer_id="c1", context=ctx(order=42))
    assert a.created and not b.created
    assert b.interaction.enqueued_at == a.interaction.enqueued_at
    with pytest.raises(grpc.RpcError) as err:
        client.enqueue("i1", customer_id="c2")
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "interaction_id" in (err.value.details() or "")
    assert client.get("i1").customer_id == "c1"
    stats = client.GetStats(pb.GetStatsRequest())
    assert stats.waiting == 1


def test_accept_complete_wrap_up_and_back_to_available(client: Client) -> None:
    client.agent("a1")
    client.enqueue("i1", customer_id="c1")
    assigned = client.Accept(pb.AcceptRequest(interaction_id="i1", agent_id="a1"))
    assert assigned.state == pb.INTERACTION_STATE_ASSIGNED and assigned.agent_id == "a1"
    done = client.Complete(
        pb.CompleteRequest(interaction_id="i1", agent_id="a1", disposition="solved", csat=5)
    )
    assert done.state == pb.INTERACTION_STATE_WRAP_UP
    assert done.csat == 5 and done.disposition == "solved"
    assert client.get_agent("a1").state == pb.AGENT_STATE_WRAP_UP
    assert client.get_agent("a1").load == []
    wait_for(lambda: client.get_agent("a1").state == pb.AGENT_STATE_AVAILABLE, what="wrap-up end")
    wait_for(lambda: client.get("i1").state == pb.INTERACTION_STATE_COMPLETED, what="completed")
    assert events(client.get("i1")) == [
        "ENQUEUED",
        "OFFERED",
        "ACCEPTED",
        "WRAP_UP_STARTED",
        "COMPLETED",
        "FEEDBACK_REQUESTED",
    ]


def test_end_of_wrap_up_routes_the_waiting_interaction(client: Client) -> None:
    client.agent("a1", capacity=[pb.ChannelCount(channel=pb.CHANNEL_VOICE, count=1)])
    client.enqueue("i1", channel=pb.CHANNEL_VOICE)
    client.Accept(pb.AcceptRequest(interaction_id="i1", agent_id="a1"))
    assert client.enqueue("i2", channel=pb.CHANNEL_VOICE).position == 1
    client.Complete(pb.CompleteRequest(interaction_id="i1"))
    assert client.get("i2").state == pb.INTERACTION_STATE_QUEUED  # a1 is wrapping up
    wait_for(lambda: client.get("i2").offer.agent_id == "a1", what="offer after wrap-up")


def test_second_complete_ends_wrap_up_early(client: Client) -> None:
    client.agent("a1")
    client.enqueue("i1")
    client.Accept(pb.AcceptRequest(interaction_id="i1", agent_id="a1"))
    client.Complete(pb.CompleteRequest(interaction_id="i1"))
    done = client.Complete(pb.CompleteRequest(interaction_id="i1", csat=4))
    assert done.state == pb.INTERACTION_STATE_COMPLETED and done.csat == 4
    assert client.get_agent("a1").state == pb.AGENT_STATE_AVAILABLE
    with pytest.raises(grpc.RpcError) as err:
        client.Complete(pb.CompleteRequest(interaction_id="i1"))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_cancel_while_queued_counts_abandoned(client: Client) -> None:
    client.enqueue("i1")
    c = client.Cancel(pb.CancelRequest(interaction_id="i1", reason="hung up"))
    assert c.state == pb.INTERACTION_STATE_CANCELLED
    stats = client.GetStats(pb.GetStatsRequest())
    assert (stats.waiting, stats.abandoned) == (0, 1)
    # A hang-up within seconds is a short abandon: no service level to measure yet, which
    # Stats.service_level says as 1 and the measures by leaving it unset.
    assert stats.service_level == 1.0
    tenant = next(m for m in stats.measures if m.window == "today" and not m.queue_id)
    assert (tenant.abandoned, tenant.short_abandoned) == (1, 1)
    assert not tenant.HasField("service_level")
    with pytest.raises(grpc.RpcError) as err:
        client.Cancel(pb.CancelRequest(interaction_id="i1"))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_cancel_releases_the_offered_and_the_holding_agent(client: Client) -> None:
    client.agent("a1")
    client.agent("a2")
    client.enqueue("i1")
    offered = client.get("i1").offer.agent_id
    client.Cancel(pb.CancelRequest(interaction_id="i1"))
    assert client.get_agent(offered).load == []
    client.enqueue("i2")
    holder = client.get("i2").offer.agent_id
    client.Accept(pb.AcceptRequest(interaction_id="i2", agent_id=holder))
    client.Cancel(pb.CancelRequest(interaction_id="i2"))
    assert client.get_agent(holder).load == []
    assert client.get_agent(holder).state == pb.AGENT_STATE_AVAILABLE


def test_update_context_merges_removes_and_is_recorded(client: Client) -> None:
    client.enqueue("i1", context=ctx(a=1, b="x"))
    got = client.UpdateContext(
        pb.UpdateContextRequest(interaction_id="i1", context=ctx(c=True), remove_keys=["a"])
    )
    assert dict(got.context) == {"b": "x", "c": True}
    assert events(client.get("i1"))[-1] == "CONTEXT_UPDATED"
    big = ctx(blob="x" * (64 * 1024))
    with pytest.raises(grpc.RpcError) as err:
        client.UpdateContext(pb.UpdateContextRequest(interaction_id="i1", context=big))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (err.value.details() or "").startswith("context")
    assert dict(client.get("i1").context) == {"b": "x", "c": True}


def test_returning_customer_links_context_history_and_prefers_last_agent(client: Client) -> None:
    client.agent("a1")
    client.agent("a2")
    client.enqueue("chat-1", customer_id="cust", context=ctx(order="A-1"))
    first_agent = client.get("chat-1").offer.agent_id
    client.Accept(pb.AcceptRequest(interaction_id="chat-1", agent_id=first_agent))
    client.Complete(pb.CompleteRequest(interaction_id="chat-1", csat=5))
    client.Complete(pb.CompleteRequest(interaction_id="chat-1"))  # end wrap-up now
    r = client.enqueue("mail-1", customer_id="cust", channel=pb.CHANNEL_EMAIL, context=ctx(x=1))
    i = r.interaction
    assert i.linked_interaction_id == "chat-1"
    assert dict(i.context) == {"order": "A-1", "x": 1}
    assert i.preferred_agent_id == first_agent
    assert i.offer.agent_id == first_agent
    history = client.get("mail-1").history
    assert [e.interaction_id for e in history][:1] == ["chat-1"]
    assert history[-1].interaction_id == "mail-1"
    assert "LINKED" in events(client.get("mail-1"))


def bad(client: Client) -> list[tuple[Callable[[], Any], grpc.StatusCode, str]]:
    code = grpc.StatusCode
    return [
        (lambda: client.enqueue(""), code.INVALID_ARGUMENT, "interaction_id"),
        (lambda: client.enqueue("i", channel=0), code.INVALID_ARGUMENT, "channel"),
        (lambda: client.enqueue("i", channel=99), code.INVALID_ARGUMENT, "channel"),
        (lambda: client.enqueue("i", priority=101), code.INVALID_ARGUMENT, "priority"),
        (lambda: client.enqueue("i", sla_seconds=-1), code.INVALID_ARGUMENT, "sla_seconds"),
        (
            lambda: client.enqueue("i", sla_seconds=float("nan")),
            code.INVALID_ARGUMENT,
            "sla_seconds",
        ),
        (
            lambda: client.enqueue("i", required_skills=[Req(skill="s", min_level=11)]),
            code.INVALID_ARGUMENT,
            "required_skills",
        ),
        (
            lambda: client.enqueue("i", preferred_skills=[Req(skill="")]),
            code.INVALID_ARGUMENT,
            "preferred_skills",
        ),
        (
            lambda: client.enqueue("i", required_skills=[Req(skill=f"s{k}") for k in range(9)]),
            code.INVALID_ARGUMENT,
            "required_skills",
        ),
        (
            lambda: client.enqueue("i", customer_tier="platinum"),
            code.INVALID_ARGUMENT,
            "customer_tier",
        ),
        (
            lambda: client.enqueue("i", preferred_agent_id="p" * 200),
            code.INVALID_ARGUMENT,
            "preferred_agent_id",
        ),
        (
            lambda: client.enqueue("i", context=ctx(blob="x" * (64 * 1024))),
            code.INVALID_ARGUMENT,
            "context",
        ),
        (lambda: client.get("ghost"), code.NOT_FOUND, ""),
        (
            lambda: client.Accept(pb.AcceptRequest(interaction_id="ghost", agent_id="a1")),
            code.NOT_FOUND,
            "",
        ),
        (
            lambda: client.Accept(pb.AcceptRequest(interaction_id="q", agent_id="a1")),
            code.FAILED_PRECONDITION,
            "",
        ),
        (
            lambda: client.Accept(pb.AcceptRequest(interaction_id="q", agent_id="")),
            code.INVALID_ARGUMENT,
            "agent_id",
        ),
        (
            lambda: client.Reject(pb.RejectRequest(interaction_id="q", agent_id="a1")),
            code.FAILED_PRECONDITION,
            "",
        ),
        (
            lambda: client.Complete(pb.CompleteRequest(interaction_id="q")),
            code.FAILED_PRECONDITION,
            "",
        ),
        (
            lambda: client.Complete(pb.CompleteRequest(interaction_id="q", csat=6)),
            code.INVALID_ARGUMENT,
            "csat",
        ),
        (lambda: client.Cancel(pb.CancelRequest(interaction_id="ghost")), code.NOT_FOUND, ""),
        (
            lambda: client.UpdateContext(pb.UpdateContextRequest(interaction_id="ghost")),
            code.NOT_FOUND,
            "",
        ),
        (lambda: client.Explain(pb.ExplainRequest(interaction_id="ghost")), code.NOT_FOUND, ""),
        (
            lambda: client.Escalate(pb.EscalateRequest(interaction_id="")),
            code.INVALID_ARGUMENT,
            "interaction_id",
        ),
    ]


def test_every_refusal_has_its_code_names_its_field_and_changes_nothing(client: Client) -> None:
    client.agent("a1", state=pb.AGENT_STATE_NOT_READY)
    client.enqueue("q", context=ctx(k=1))
    before = client.get("q")
    cases = bad(client)
    for call, code, field in cases:
        with pytest.raises(grpc.RpcError) as err:
            call()
        assert err.value.code() == code, (field, err.value.details())
        if field:
            assert (err.value.details() or "").startswith(field), err.value.details()
    assert client.get("q") == before
    stats = client.GetStats(pb.GetStatsRequest())
    assert stats.waiting == 1 and stats.offered == 0
    with pytest.raises(grpc.RpcError) as err:
        client.get("i")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_estimated_wait_is_place_times_handle_time_over_staffed_seats(
    client: Client, running: Running
) -> None:
    handle = running.server.tenants.policy.handle_time_seconds[Channel.CHAT]
    chat = [pb.ChannelCount(channel=pb.CHANNEL_CHAT, count=3)]
    for agent_id in ("a", "b"):  # staffed (NOT_READY), so nothing is offered
        client.agent(agent_id, capacity=chat, state=pb.AGENT_STATE_NOT_READY)
    for k in range(1, 4):
        got = client.enqueue(f"i{k}")
        assert got.position == k
        assert got.estimated_wait_seconds == pytest.approx(k * handle / 6)
    client.SetAgentState(pb.SetAgentStateRequest(agent_id="b", state=pb.AGENT_STATE_OFFLINE))
    assert client.enqueue("i4").estimated_wait_seconds == pytest.approx(4 * handle / 3)
    client.RemoveAgent(pb.RemoveAgentRequest(agent_id="a"))
    assert client.enqueue("i5").estimated_wait_seconds == pytest.approx(5 * handle / 1)
