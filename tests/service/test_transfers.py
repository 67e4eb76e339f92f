"""Transfers (warm, cold, channel change), escalation, and the full customer journey."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import struct_pb2

from cim_router._pb import router_pb2 as pb
from tests.service.conftest import Client, wait_for

Req = pb.SkillRequirement


def kinds(i: pb.Interaction) -> list[str]:
    return [pb.EventType.Name(e.type).removeprefix("EVENT_TYPE_") for e in i.history]


def load(client: Client, agent_id: str) -> dict[int, int]:
    return {c.channel: c.count for c in client.get_agent(agent_id).load}


def assigned_to(client: Client, interaction_id: str, agent_id: str) -> None:
    client.Accept(pb.AcceptRequest(interaction_id=interaction_id, agent_id=agent_id))


def test_warm_transfer_to_an_agent_keeps_the_first_until_accept(client: Client) -> None:
    client.agent("a1")
    client.enqueue("i1")
    assigned_to(client, "i1", "a1")
    client.agent("a2")
    t = client.Transfer(
        pb.TransferRequest(interaction_id="i1", mode=pb.TRANSFER_MODE_WARM, agent_id="a2")
    )
    assert t.state == pb.INTERACTION_STATE_ASSIGNED and t.agent_id == "a1"
    assert t.offer.agent_id == "a2" and t.offer.transfer
    assert load(client, "a1") == {pb.CHANNEL_CHAT: 1} and load(client, "a2") == {pb.CHANNEL_CHAT: 1}
    done = client.Accept(pb.AcceptRequest(interaction_id="i1", agent_id="a2"))
    assert done.agent_id == "a2" and not done.HasField("transfer")
    assert load(client, "a1") == {} and load(client, "a2") == {pb.CHANNEL_CHAT: 1}
    assert kinds(client.get("i1"))[-2:] == ["ACCEPTED", "TRANSFERRED"]


def test_warm_transfer_rejected_stays_with_the_first_agent(client: Client) -> None:
    client.agent("a1")
    client.enqueue("i1")
    assigned_to(client, "i1", "a1")
    client.agent("a2")
    client.Transfer(
        pb.TransferRequest(interaction_id="i1", mode=pb.TRANSFER_MODE_WARM, agent_id="a2")
    )
    back = client.Reject(pb.RejectRequest(interaction_id="i1", agent_id="a2"))
    assert back.state == pb.INTERACTION_STATE_ASSIGNED and back.agent_id == "a1"
    assert not back.HasField("transfer") and not back.HasField("offer")
    assert load(client, "a2") == {}
    assert kinds(client.get("i1"))[-1] == "TRANSFER_FAILED"


def test_cold_transfer_to_a_skill_releases_the_first_agent_at_once(client: Client) -> None:
    client.agent("a1", skills={"sales": 5})
    client.enqueue("i1")
    assigned_to(client, "i1", "a1")
    t = client.Transfer(
        pb.TransferRequest(
            interaction_id="i1",
            mode=pb.TRANSFER_MODE_COLD,
            skills=pb.SkillTarget(required_skills=[Req(skill="billing", min_level=5)]),
        )
    )
    assert t.state == pb.INTERACTION_STATE_QUEUED and t.agent_id == ""
    assert [r.skill for r in t.required_skills] == ["billing"]
    assert load(client, "a1") == {}
    client.agent("b1", skills={"billing": 6})
    assert client.get("i1").offer.agent_id == "b1"


def test_transfer_refusals_change_nothing(client: Client) -> None:
    client.agent("a1")
    client.enqueue("i1")
    client.UpsertAgent(pb.UpsertAgentRequest(agent_id="off"))
    warm = pb.TRANSFER_MODE_WARM
    with pytest.raises(grpc.RpcError) as err:  # still only OFFERED
        client.Transfer(pb.TransferRequest(interaction_id="i1", mode=warm, queue=pb.QueueTarget()))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assigned_to(client, "i1", "a1")
    before = client.get("i1")
    cases = [
        (pb.TransferRequest(interaction_id="i1", agent_id="a1"), "INVALID_ARGUMENT", "mode"),
        (pb.TransferRequest(interaction_id="i1", mode=warm), "INVALID_ARGUMENT", "target"),
        (
            pb.TransferRequest(interaction_id="i1", mode=warm, skills=pb.SkillTarget()),
            "INVALID_ARGUMENT",
            "skills.required_skills",
        ),
        (
            pb.TransferRequest(interaction_id="i1", mode=warm, agent_id="a1", channel=77),  # type: ignore[arg-type]
            "INVALID_ARGUMENT",
            "channel",
        ),
        (pb.TransferRequest(interaction_id="i1", mode=warm, agent_id="ghost"), "NOT_FOUND", ""),
        (
            pb.TransferRequest(interaction_id="i1", mode=warm, agent_id="off"),
            "FAILED_PRECONDITION",
            "",
        ),
        (
            pb.TransferRequest(interaction_id="i1", mode=warm, agent_id="a1"),
            "FAILED_PRECONDITION",
            "",
        ),
        (pb.TransferRequest(interaction_id="zz", mode=warm, agent_id="a1"), "NOT_FOUND", ""),
    ]
    for request, code, field in cases:
        with pytest.raises(grpc.RpcError) as err:
            client.Transfer(request)
        assert err.value.code().name == code, request
        assert (err.value.details() or "").startswith(field)
    assert client.get("i1") == before
    assert load(client, "a1") == {pb.CHANNEL_CHAT: 1}


def test_escalating_a_waiting_interaction_requires_a_higher_tier(client: Client) -> None:
    client.agent("junior", tier=1, state=pb.AGENT_STATE_NOT_READY)
    client.enqueue("i1")
    e = client.Escalate(pb.EscalateRequest(interaction_id="i1", reason="angry"))
    assert e.escalation_level == 1
    client.SetAgentState(pb.SetAgentStateRequest(agent_id="junior", state=pb.AGENT_STATE_AVAILABLE))
    assert client.get("i1").state == pb.INTERACTION_STATE_QUEUED  # tier 1 < 3 required
    client.agent("senior", tier=3)
    assert client.get("i1").offer.agent_id == "senior"
    explanation = client.Explain(pb.ExplainRequest(interaction_id="i1"))
    assert not explanation.live and explanation.chosen_agent_id == "senior"
    assert explanation.exclusions["tier"] == 1


def test_full_journey_chat_to_voice_to_supervisor(client: Client) -> None:
    client.agent("chat1", skills={"support": 5}, tier=1)
    client.agent(
        "voice1",
        skills={"support": 6},
        tier=2,
        capacity=[pb.ChannelCount(channel=pb.CHANNEL_CHAT, count=0)],
    )
    client.agent("sup", skills={"support": 9}, tier=5, state=pb.AGENT_STATE_NOT_READY)
    context = struct_pb2.Struct()
    context.update({"order": "A-17"})
    r = client.enqueue(
        "j1",
        customer_id="cust-9",
        channel=pb.CHANNEL_CHAT,
        required_skills=[Req(skill="support", min_level=3)],
        context=context,
    )
    # Offered to the only available agent with chat capacity.
    assert r.interaction.state == pb.INTERACTION_STATE_OFFERED
    offered = r.interaction.offer.agent_id
    assert offered == "chat1"
    assigned_to(client, "j1", "chat1")
    assert client.get_agent("chat1").load[0].count == 1

    # Warm transfer to voice with a channel change: the chat agent keeps it meanwhile.
    t = client.Transfer(
        pb.TransferRequest(
            interaction_id="j1",
            mode=pb.TRANSFER_MODE_WARM,
            queue=pb.QueueTarget(),
            channel=pb.CHANNEL_VOICE,
            reason="customer asked for a call",
        )
    )
    assert t.agent_id == "chat1" and t.transfer.channel == pb.CHANNEL_VOICE
    assert t.offer.agent_id == "voice1" and t.offer.channel == pb.CHANNEL_VOICE
    assert load(client, "chat1") == {pb.CHANNEL_CHAT: 1}
    v = client.Accept(pb.AcceptRequest(interaction_id="j1", agent_id="voice1"))
    assert v.channel == pb.CHANNEL_VOICE and v.agent_id == "voice1" and v.id == "j1"
    assert dict(v.context) == {"order": "A-17"}
    assert load(client, "chat1") == {} and load(client, "voice1") == {pb.CHANNEL_VOICE: 1}

    # Escalate: a supervisor tier is required; the voice agent keeps it until one accepts.
    client.UpdateContext(
        pb.UpdateContextRequest(interaction_id="j1", context=struct_pb2.Struct(fields={}))
    )
    e = client.Escalate(pb.EscalateRequest(interaction_id="j1", reason="refund over limit"))
    assert e.escalation_level == 1 and e.agent_id == "voice1"
    assert e.transfer.mode == pb.TRANSFER_MODE_WARM and not e.HasField("offer")
    client.SetAgentState(pb.SetAgentStateRequest(agent_id="sup", state=pb.AGENT_STATE_AVAILABLE))
    assert client.get("j1").offer.agent_id == "sup"
    s = client.Accept(pb.AcceptRequest(interaction_id="j1", agent_id="sup"))
    assert s.agent_id == "sup" and s.escalation_level == 1
    assert load(client, "voice1") == {} and load(client, "sup") == {pb.CHANNEL_VOICE: 1}

    done = client.Complete(
        pb.CompleteRequest(interaction_id="j1", agent_id="sup", disposition="refunded", csat=5)
    )
    assert done.state == pb.INTERACTION_STATE_WRAP_UP and done.csat == 5
    assert client.get_agent("sup").state == pb.AGENT_STATE_WRAP_UP
    wait_for(lambda: client.get("j1").state == pb.INTERACTION_STATE_COMPLETED, what="completion")
    wait_for(lambda: client.get_agent("sup").state == pb.AGENT_STATE_AVAILABLE, what="sup free")
    final = client.get("j1")
    assert final.disposition == "refunded" and dict(final.context) == {"order": "A-17"}
    assert kinds(final) == [
        "ENQUEUED",
        "OFFERED",
        "ACCEPTED",
        "TRANSFER_REQUESTED",
        "OFFERED",
        "ACCEPTED",
        "CHANNEL_CHANGED",
        "TRANSFERRED",
        "CONTEXT_UPDATED",
        "ESCALATED",
        "OFFERED",
        "ACCEPTED",
        "TRANSFERRED",
        "WRAP_UP_STARTED",
        "COMPLETED",
        "FEEDBACK_REQUESTED",
    ]
    channels = [e.channel for e in final.history]
    assert channels[0] == pb.CHANNEL_CHAT and channels[-1] == pb.CHANNEL_VOICE
    stats = client.GetStats(pb.GetStatsRequest())
    assert (stats.offered, stats.answered, stats.completed) == (3, 1, 1)


def test_the_holder_can_call_off_a_pending_warm_transfer(client: Client) -> None:
    client.agent("a1", skills={"sales": 5})
    client.enqueue("i1")
    assigned_to(client, "i1", "a1")
    # Nobody has the skill: the warm transfer waits, and a second one is refused.
    client.Transfer(
        pb.TransferRequest(
            interaction_id="i1",
            mode=pb.TRANSFER_MODE_WARM,
            skills=pb.SkillTarget(required_skills=[Req(skill="legal", min_level=9)]),
        )
    )
    with pytest.raises(grpc.RpcError) as second:
        client.Transfer(
            pb.TransferRequest(interaction_id="i1", mode=pb.TRANSFER_MODE_WARM, agent_id="a1")
        )
    assert second.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as other:
        client.CancelTransfer(pb.CancelTransferRequest(interaction_id="i1", agent_id="zed"))
    assert other.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    back = client.CancelTransfer(pb.CancelTransferRequest(interaction_id="i1", agent_id="a1"))
    assert back.state == pb.INTERACTION_STATE_ASSIGNED and back.agent_id == "a1"
    assert not back.HasField("transfer")
    assert kinds(client.get("i1"))[-1] == "TRANSFER_CANCELLED"
    # A legal expert arriving later is not offered the called-off transfer.
    client.agent("lawyer", skills={"legal": 10})
    assert not client.get("i1").HasField("offer")
    assert load(client, "lawyer") == {}
    with pytest.raises(grpc.RpcError) as again:
        client.CancelTransfer(pb.CancelTransferRequest(interaction_id="i1"))
    assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_calling_off_a_warm_transfer_withdraws_its_offer(client: Client) -> None:
    client.agent("a1")
    client.enqueue("i1")
    assigned_to(client, "i1", "a1")
    client.agent("a2")
    client.Transfer(
        pb.TransferRequest(interaction_id="i1", mode=pb.TRANSFER_MODE_WARM, agent_id="a2")
    )
    assert load(client, "a2") == {pb.CHANNEL_CHAT: 1}
    back = client.CancelTransfer(pb.CancelTransferRequest(interaction_id="i1"))
    assert back.agent_id == "a1" and not back.HasField("offer")
    assert load(client, "a2") == {} and load(client, "a1") == {pb.CHANNEL_CHAT: 1}
