"""A scripted day in the contact centre, over real gRPC, with everything the metrics count.

Agents: ann (billing 8) and bob (billing 5, spanish 5), one chat each; cat (billing 3) joins
later. c1: offered to ann, accepted, completed with CSAT 4. c2 (SLA 0.3 s): offered to bob,
rejected, waits for ann, accepted after the SLA, warm-transferred to cat who accepts. c3:
offered to bob, times out, then cancelled while waiting (abandoned). c4: a voice call from
c1's customer (a repeat contact) needing spanish, offered to bob, escalated beyond every
agent's tier: it stays waiting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import struct_pb2

from cim_router._pb import router_pb2 as pb
from tests.service.conftest import Client, wait_for

Req = pb.SkillRequirement
CHAT_ONE = [pb.ChannelCount(channel=pb.CHANNEL_CHAT, count=1)]


def kinds(i: pb.Interaction) -> list[str]:
    return [pb.EventType.Name(e.type).removeprefix("EVENT_TYPE_") for e in i.history]


def _at(i: pb.Interaction, kind: str) -> float:
    """When the first event of `kind` happened to `i` itself, in seconds."""
    for e in i.history:
        if e.interaction_id == i.id and pb.EventType.Name(e.type) == f"EVENT_TYPE_{kind}":
            return e.at.ToNanoseconds() / 1e9
    raise AssertionError(f"{i.id} has no {kind} event")


def _struct(values: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(values)
    return s


@dataclass
class Journey:
    """What happened, as far as the client can see it."""

    # First accept minus enqueue, per answered interaction, from the history events (the
    # router times the wait from its own clock reading a few microseconds away).
    waits: dict[str, float]


def run_journey(client: Client, context: dict[str, Any] | None = None) -> Journey:
    """Play the journey; `context` goes into every interaction's context and free text."""
    ctx = _struct(context or {})
    secret = str(next(iter((context or {"": ""}).values())))
    client.agent("ann", skills={"billing": 8}, capacity=CHAT_ONE)
    client.agent("bob", skills={"billing": 5, "spanish": 5}, capacity=CHAT_ONE)

    billing = [Req(skill="billing", min_level=1)]
    r1 = client.enqueue("c1", required_skills=billing, customer_id="cust-1", context=ctx)
    assert r1.interaction.offer.agent_id == "ann"
    client.Accept(pb.AcceptRequest(interaction_id="c1", agent_id="ann"))

    r2 = client.enqueue("c2", required_skills=billing, sla_seconds=0.3, context=ctx)
    assert r2.interaction.offer.agent_id == "bob"
    client.Reject(pb.RejectRequest(interaction_id="c2", agent_id="bob", reason=secret))

    r3 = client.enqueue("c3", context=ctx)
    assert r3.interaction.offer.agent_id == "bob"
    wait_for(lambda: "OFFER_EXPIRED" in kinds(client.get("c3")), what="c3's offer to expire")
    client.UpdateContext(pb.UpdateContextRequest(interaction_id="c3", context=ctx))
    client.Cancel(pb.CancelRequest(interaction_id="c3", reason=secret))

    client.Complete(pb.CompleteRequest(interaction_id="c1", agent_id="ann", csat=4))
    wait_for(lambda: client.get("c2").offer.agent_id == "ann", what="c2 offered to ann")
    client.Accept(pb.AcceptRequest(interaction_id="c2", agent_id="ann"))
    wait_for(lambda: client.get("c1").state == pb.INTERACTION_STATE_COMPLETED, what="c1's wrap-up")

    client.agent("cat", skills={"billing": 3}, capacity=CHAT_ONE)
    client.Transfer(
        pb.TransferRequest(
            interaction_id="c2", mode=pb.TRANSFER_MODE_WARM, agent_id="cat", reason=secret
        )
    )
    client.Accept(pb.AcceptRequest(interaction_id="c2", agent_id="cat"))

    spanish = [*billing, Req(skill="spanish", min_level=1)]
    r4 = client.enqueue(
        "c4",
        channel=pb.CHANNEL_VOICE,
        required_skills=spanish,
        customer_id="cust-1",
        context=ctx,
    )
    assert r4.interaction.linked_interaction_id == "c1"
    assert r4.interaction.offer.agent_id == "bob"
    escalated = client.Escalate(pb.EscalateRequest(interaction_id="c4", reason=secret))
    assert escalated.state == pb.INTERACTION_STATE_QUEUED

    c1, c2 = client.get("c1"), client.get("c2")
    return Journey(
        waits={i.id: _at(i, "ACCEPTED") - _at(i, "ENQUEUED") for i in (c1, c2)},
    )
