"""Race storms: many clients at once on shared interactions and agents, over real gRPC;
and what they found, pinned down."""

from __future__ import annotations

from cim_router._pb import router_pb2 as pb
from cim_router.domain.channel import Channel
from tests.redis_server import drop_prefix
from tests.service.conftest import Client, fast_policy, start_server

# --- what the storms found, pinned down -----------------------------------------------------


def test_cancel_of_an_assigned_interaction_leaves_no_holder(client: Client) -> None:
    """A cancelled interaction names no holder: its agent was released (found by the
    lifecycle storm: CANCELLED interactions kept their last holder's agent_id)."""
    client.agent("a1")
    client.enqueue("i1")
    client.Accept(pb.AcceptRequest(interaction_id="i1", agent_id="a1"))
    cancelled = client.Cancel(pb.CancelRequest(interaction_id="i1", reason="hung up"))
    assert cancelled.state == pb.INTERACTION_STATE_CANCELLED and cancelled.agent_id == ""
    assert client.get("i1").agent_id == ""
    assert client.get_agent("a1").load == []


def test_wrap_up_of_a_removed_agent_survives_a_restart() -> None:
    """An agent may be removed once its work is done, during the wrap-up of its last
    interaction; a restart then loads that interaction like any other, and it completes
    (found by the agents storm: the interaction was quarantined as having an unknown
    holder, served by GetInteraction but NOT_FOUND to Complete, and never completed)."""
    policy = fast_policy(wrap_up_seconds=dict.fromkeys(Channel, 30.0))
    first = start_server(policy)
    servers = [first]
    try:
        client = first.client()
        client.agent("a1")
        client.enqueue("i1")
        client.Accept(pb.AcceptRequest(interaction_id="i1", agent_id="a1"))
        wrapping = client.Complete(pb.CompleteRequest(interaction_id="i1"))
        assert wrapping.state == pb.INTERACTION_STATE_WRAP_UP
        client.RemoveAgent(pb.RemoveAgentRequest(agent_id="a1"))
        first.stop()
        servers.append(second := start_server(policy, settings=first.settings))
        client = second.client()
        assert client.GetStats(pb.GetStatsRequest()).quarantined == 0
        done = client.Complete(pb.CompleteRequest(interaction_id="i1", disposition="sold"))
        assert done.state == pb.INTERACTION_STATE_COMPLETED and done.agent_id == "a1"
    finally:
        for running in servers:
            running.stop()
        drop_prefix(first.settings.prefix)


def test_warm_transfer_to_a_named_agent_in_flight_at_a_restart_fails_back() -> None:
    """A restart withdraws the offer of a pending warm transfer to a named agent; the
    transfer then fails and the first agent keeps the interaction, as when the target
    rejects (found by the lifecycle storm: routing offered it to whoever was best, while
    the pending transfer still named its target)."""
    policy = fast_policy(offer_timeout_seconds=30.0)
    first = start_server(policy)
    servers = [first]
    try:
        client = first.client()
        client.agent("a1")
        client.enqueue("i1")
        client.Accept(pb.AcceptRequest(interaction_id="i1", agent_id="a1"))
        client.agent("idle", skills={"sales": 10})  # longest idle: routing's first choice
        client.agent("a2")
        to_a2 = pb.TransferRequest(interaction_id="i1", mode=pb.TRANSFER_MODE_WARM, agent_id="a2")
        assert client.Transfer(to_a2).offer.agent_id == "a2"
        first.stop()
        servers.append(second := start_server(policy, settings=first.settings))
        client = second.client()
        i = client.get("i1")
        assert i.state == pb.INTERACTION_STATE_ASSIGNED and i.agent_id == "a1"
        assert not i.HasField("transfer") and not i.HasField("offer")
        assert pb.EVENT_TYPE_TRANSFER_FAILED in [e.type for e in i.history]
        assert [client.get_agent(a).load for a in ("idle", "a2")] == [[], []]
        assert client.Transfer(to_a2).offer.agent_id == "a2"  # the holder may try again
    finally:
        for running in servers:
            running.stop()
        drop_prefix(first.settings.prefix)
