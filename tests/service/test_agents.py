"""Agents over gRPC: upsert, state, listing, removal and their refusals."""

from __future__ import annotations

import grpc
import pytest

from cim_router._pb import router_pb2 as pb
from tests.service.conftest import Client


def test_new_agent_starts_offline_with_default_capacity(client: Client) -> None:
    a = client.UpsertAgent(pb.UpsertAgentRequest(agent_id="a1", skills={"billing": 7}, tier=2))
    assert a.state == pb.AGENT_STATE_OFFLINE
    assert a.tier == 2 and dict(a.skills) == {"billing": 7}
    caps = {c.channel: c.count for c in a.capacity}
    assert (
        caps[pb.CHANNEL_VOICE] == 1 and caps[pb.CHANNEL_CHAT] == 3 and caps[pb.CHANNEL_EMAIL] == 5
    )


def test_upsert_keeps_state_and_overrides_listed_capacity(client: Client) -> None:
    client.agent("a1")
    a = client.UpsertAgent(
        pb.UpsertAgentRequest(
            agent_id="a1",
            display_name="Ann",
            capacity=[pb.ChannelCount(channel=pb.CHANNEL_CHAT, count=5)],
        )
    )
    assert a.state == pb.AGENT_STATE_AVAILABLE
    assert a.display_name == "Ann"
    caps = {c.channel: c.count for c in a.capacity}
    assert caps[pb.CHANNEL_CHAT] == 5 and caps[pb.CHANNEL_VOICE] == 1


def test_set_state_list_and_remove(client: Client) -> None:
    client.agent("a1")
    client.agent("a2")
    a = client.SetAgentState(
        pb.SetAgentStateRequest(agent_id="a2", state=pb.AGENT_STATE_NOT_READY, reason="lunch")
    )
    assert a.state == pb.AGENT_STATE_NOT_READY and a.not_ready_reason == "lunch"
    every = client.ListAgents(pb.ListAgentsRequest())
    assert [x.id for x in every.agents] == ["a1", "a2"]
    ready = client.ListAgents(pb.ListAgentsRequest(state=pb.AGENT_STATE_AVAILABLE))
    assert [x.id for x in ready.agents] == ["a1"]
    client.RemoveAgent(pb.RemoveAgentRequest(agent_id="a1"))
    with pytest.raises(grpc.RpcError) as err:
        client.get_agent("a1")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_available_again_resets_missed_offers_and_idle_time(client: Client) -> None:
    a = client.agent("a1")
    client.SetAgentState(pb.SetAgentStateRequest(agent_id="a1", state=pb.AGENT_STATE_NOT_READY))
    b = client.SetAgentState(pb.SetAgentStateRequest(agent_id="a1", state=pb.AGENT_STATE_AVAILABLE))
    assert b.idle_since.ToNanoseconds() > a.idle_since.ToNanoseconds()
    assert b.not_ready_reason == ""


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.UpsertAgentRequest(agent_id=""), "agent_id"),
        (pb.UpsertAgentRequest(agent_id="x" * 129), "agent_id"),
        (pb.UpsertAgentRequest(agent_id="a", tier=6), "tier"),
        (pb.UpsertAgentRequest(agent_id="a", skills={"billing": 11}), "skills['billing']"),
        (pb.UpsertAgentRequest(agent_id="a", skills={"": 3}), "skills"),
        (
            pb.UpsertAgentRequest(agent_id="a", capacity=[pb.ChannelCount(count=1)]),
            "capacity[0].channel",
        ),
        (
            pb.UpsertAgentRequest(
                agent_id="a", capacity=[pb.ChannelCount(channel=pb.CHANNEL_CHAT, count=300)]
            ),
            "capacity[0].count",
        ),
        (pb.UpsertAgentRequest(agent_id="a", state=pb.AGENT_STATE_WRAP_UP), "state"),
        (pb.UpsertAgentRequest(agent_id="a", state=42), "state"),  # type: ignore[arg-type]
    ],
)
def test_bad_upsert_is_invalid_argument_naming_the_field(
    client: Client, request_: pb.UpsertAgentRequest, field: str
) -> None:
    with pytest.raises(grpc.RpcError) as err:
        client.UpsertAgent(request_)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (err.value.details() or "").startswith(field)
    assert client.ListAgents(pb.ListAgentsRequest()).agents == []


def test_state_refusals_change_nothing(client: Client) -> None:
    client.agent("a1")
    client.enqueue("i1")  # offered to a1: a1 holds a reservation
    with pytest.raises(grpc.RpcError) as err:
        client.SetAgentState(pb.SetAgentStateRequest(agent_id="a1", state=pb.AGENT_STATE_OFFLINE))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as err:
        client.RemoveAgent(pb.RemoveAgentRequest(agent_id="a1"))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as err:
        client.SetAgentState(pb.SetAgentStateRequest(agent_id="a1"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (err.value.details() or "").startswith("state")
    with pytest.raises(grpc.RpcError) as err:
        client.SetAgentState(
            pb.SetAgentStateRequest(agent_id="nobody", state=pb.AGENT_STATE_AVAILABLE)
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    a = client.get_agent("a1")
    assert a.state == pb.AGENT_STATE_AVAILABLE
    assert {c.channel: c.count for c in a.load} == {pb.CHANNEL_CHAT: 1}
    assert client.get("i1").state == pb.INTERACTION_STATE_OFFERED


def test_unknown_agent_is_not_found(client: Client) -> None:
    for call in (
        lambda: client.get_agent("ghost"),
        lambda: client.RemoveAgent(pb.RemoveAgentRequest(agent_id="ghost")),
    ):
        with pytest.raises(grpc.RpcError) as err:
            call()
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
