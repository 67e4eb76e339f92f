"""Routing defects that left work waiting beside idle agents, or broke an invariant: each
test failed before its fix."""

from __future__ import annotations

import threading
import time
from typing import Any

import grpc
import pytest

from cim_router._pb import router_pb2 as pb
from cim_router.domain.channel import Channel
from cim_router.domain.policy import RelaxationStep, Weights
from tests.service.conftest import Client, fast_policy, start_server, wait_for

Req = pb.SkillRequirement


def test_a_relaxation_step_is_not_skipped_by_steady_unrelated_arrivals() -> None:
    policy = fast_policy(relaxation=(RelaxationStep(0.5, level_drop=2),))
    running = start_server(policy)
    try:
        c = running.client()
        c.agent("junior", skills={"billing": 3})
        c.enqueue("hard", required_skills=[Req(skill="billing", min_level=5)])
        stop = threading.Event()

        def arrivals() -> None:  # work nobody can take, arriving all the time
            me, n = running.client(), 0
            while not stop.is_set():
                n += 1
                me.enqueue(f"other-{n}", required_skills=[Req(skill="legal", min_level=9)])
                time.sleep(0.02)

        driver = threading.Thread(target=arrivals)
        driver.start()
        try:
            # Step 1 (level 5 - 2 = 3) starts 0.5 s after the enqueue.
            wait_for(lambda: c.get("hard").offer.agent_id == "junior", timeout=3.0)
        finally:
            stop.set()
            driver.join(5)
    finally:
        running.stop()


def test_an_agent_who_just_finished_without_wrap_up_is_not_idle_longest() -> None:
    # Idle time alone decides (a short call would also make ann's handle time look good).
    policy = fast_policy(
        wrap_up_seconds=dict.fromkeys(Channel, 0.0), weights=Weights(handle_time=0)
    )
    running = start_server(policy)
    try:
        c = running.client()
        c.agent("ann")  # idle first: longest idle
        time.sleep(0.05)
        c.agent("bo")
        first = c.enqueue("call-1", channel=pb.CHANNEL_VOICE).interaction
        assert first.offer.agent_id == "ann"
        c.Accept(pb.AcceptRequest(interaction_id="call-1", agent_id="ann"))
        c.Complete(pb.CompleteRequest(interaction_id="call-1", agent_id="ann"))
        assert (
            c.get_agent("ann").idle_since.ToDatetime() > c.get_agent("bo").idle_since.ToDatetime()
        )
        # Bo has waited longest now: the next call is his.
        assert c.enqueue("call-2", channel=pb.CHANNEL_VOICE).interaction.offer.agent_id == "bo"
    finally:
        running.stop()


def test_an_exclusion_lapses_and_the_interaction_is_offered_again() -> None:
    running = start_server(fast_policy(exclusion_seconds=0.5))
    try:
        c = running.client()
        c.agent("only")
        c.enqueue("chat-1")
        c.Reject(pb.RejectRequest(interaction_id="chat-1", agent_id="only"))
        rejected = c.get("chat-1")
        assert not rejected.HasField("offer") and list(rejected.excluded_agent_ids) == ["only"]
        wait_for(lambda: c.get("chat-1").offer.agent_id == "only", timeout=3.0)
        again = c.get("chat-1")
        assert not again.excluded_agent_ids
        kinds = [pb.EventType.Name(e.type) for e in again.history]
        assert "EVENT_TYPE_EXCLUSION_LAPSED" in kinds
    finally:
        running.stop()


def test_capacity_cannot_drop_below_what_an_agent_holds(client: Client) -> None:
    client.agent("ann")
    for n in range(3):
        client.enqueue(f"chat-{n}")
        client.Accept(pb.AcceptRequest(interaction_id=f"chat-{n}", agent_id="ann"))
    before = client.get_agent("ann")
    with pytest.raises(grpc.RpcError) as refused:
        client.agent("ann", capacity=[pb.ChannelCount(channel=pb.CHANNEL_CHAT, count=1)])
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (refused.value.details() or "").startswith("capacity[chat]:")
    assert client.get_agent("ann") == before
    # Raising it, or changing another channel, is fine.
    client.agent("ann", capacity=[pb.ChannelCount(channel=pb.CHANNEL_CHAT, count=4)])
    assert {c.channel: c.count for c in client.get_agent("ann").capacity}[pb.CHANNEL_CHAT] == 4


def _assigned(client: Client, interaction_id: str, agent_id: str, **kw: Any) -> None:
    offered = client.enqueue(interaction_id, **kw).interaction.offer.agent_id
    assert offered == agent_id, offered
    client.Accept(pb.AcceptRequest(interaction_id=interaction_id, agent_id=agent_id))


def test_a_named_transfer_target_passes_the_routing_rules(client: Client) -> None:
    client.agent("ann", skills={"billing": 5})
    _assigned(client, "call-1", "ann", channel=pb.CHANNEL_VOICE)
    client.agent("bo", skills={"billing": 5})
    _assigned(client, "chat-1", "bo")  # bo holds a chat: voice is exclusive
    before = client.get("call-1")

    def transfer(agent_id: str, ignore_skills: bool = False) -> grpc.StatusCode:
        try:
            client.Transfer(
                pb.TransferRequest(
                    interaction_id="call-1",
                    mode=pb.TRANSFER_MODE_WARM,
                    agent_id=agent_id,
                    ignore_skills=ignore_skills,
                )
            )
        except grpc.RpcError as exc:
            assert "cannot take the interaction" in (exc.details() or "")
            return exc.code()
        return grpc.StatusCode.OK

    # No override reaches past state or capacity: bo's chat blocks a call.
    assert transfer("bo") == grpc.StatusCode.FAILED_PRECONDITION
    assert transfer("bo", ignore_skills=True) == grpc.StatusCode.FAILED_PRECONDITION
    after = client.get("call-1")
    assert after.state == before.state and after.agent_id == "ann"
    assert not after.HasField("transfer")
    assert {c.channel: c.count for c in client.get_agent("bo").load} == {pb.CHANNEL_CHAT: 1}


def test_skill_rules_apply_to_a_named_target_unless_explicitly_waived(client: Client) -> None:
    client.agent("ann", skills={"billing": 5})
    _assigned(client, "chat-1", "ann", required_skills=[Req(skill="billing", min_level=4)])
    client.agent("cy")  # no billing
    with pytest.raises(grpc.RpcError) as refused:
        client.Transfer(
            pb.TransferRequest(interaction_id="chat-1", mode=pb.TRANSFER_MODE_WARM, agent_id="cy")
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "skill_missing" in (refused.value.details() or "")
    assert not client.get("chat-1").HasField("transfer")
    moved = client.Transfer(
        pb.TransferRequest(
            interaction_id="chat-1", mode=pb.TRANSFER_MODE_WARM, agent_id="cy", ignore_skills=True
        )
    )
    assert moved.offer.agent_id == "cy"
