"""Defects the live-server property suite (test_fuzz.py) found, each as the shortest
sequence of calls that showed it: each test failed before its fix."""

from __future__ import annotations

import time

from cim_router._pb import router_pb2 as pb
from cim_router.domain.channel import Channel
from tests.redis_server import drop_prefix
from tests.service.conftest import fast_policy, start_server, wait_for


def test_a_wrap_up_whose_agent_was_removed_survives_a_restart() -> None:
    policy = fast_policy(wrap_up_seconds=dict.fromkeys(Channel, 3600.0))
    first = start_server(policy)
    try:
        c = first.client()
        c.agent("ann")
        c.enqueue("chat-1")
        c.Accept(pb.AcceptRequest(interaction_id="chat-1", agent_id="ann"))
        c.Complete(pb.CompleteRequest(interaction_id="chat-1"))
        # Wrap-up holds no seat, so the agent may go.
        c.RemoveAgent(pb.RemoveAgentRequest(agent_id="ann"))
    finally:
        first.stop()
    second = start_server(policy, settings=first.settings)
    try:
        c = second.client()
        # It loads as it was (it used to be quarantined: "unknown holder") ...
        assert c.GetStats(pb.GetStatsRequest()).quarantined == 0
        assert c.get("chat-1").state == pb.INTERACTION_STATE_WRAP_UP
        # ... and its wrap-up can still end (it used to be NOT_FOUND).
        done = c.Complete(pb.CompleteRequest(interaction_id="chat-1"))
        assert done.state == pb.INTERACTION_STATE_COMPLETED
    finally:
        second.stop()
        drop_prefix(first.settings.prefix)


def test_a_warm_transfer_to_a_named_agent_goes_to_no_one_else_after_a_restart() -> None:
    policy = fast_policy(offer_timeout_seconds=3600.0)
    first = start_server(policy)
    try:
        c = first.client()
        c.agent("ann")
        c.enqueue("chat-1")
        c.Accept(pb.AcceptRequest(interaction_id="chat-1", agent_id="ann"))
        c.agent("bob")  # idle longer than cat: routing would choose bob
        c.agent("cat")
        warm = pb.TransferRequest(
            interaction_id="chat-1", mode=pb.TRANSFER_MODE_WARM, agent_id="cat"
        )
        assert c.Transfer(warm).offer.agent_id == "cat"
    finally:
        first.stop()
    second = start_server(policy, settings=first.settings)
    try:
        c = second.client()
        timers = second.server.tenants.timers
        wait_for(lambda: (timers.next_due() or 1e18) > time.time(), what="the load's matching")
        i = c.get("chat-1")
        # It used to be offered to bob, its transfer still naming cat.
        assert not i.HasField("offer"), i.offer
        assert not i.HasField("transfer"), i.transfer
        assert (i.state, i.agent_id) == (pb.INTERACTION_STATE_ASSIGNED, "ann")
        last = i.history[-1]
        assert (last.type, last.agent_id, last.reason) == (
            pb.EVENT_TYPE_TRANSFER_FAILED,
            "cat",
            "router restarted",
        )
        assert all(not a.load for a in c.ListAgents(pb.ListAgentsRequest()).agents if a.id != "ann")
    finally:
        second.stop()
        drop_prefix(first.settings.prefix)


def test_a_load_with_joint_matching_offers_an_agent_all_it_has_room_for() -> None:
    policy = fast_policy(offer_timeout_seconds=3600.0, matching="joint")
    first = start_server(policy)
    try:
        c = first.client()
        c.agent("ann")  # room for 3 chats
        c.enqueue("chat-1")
        c.enqueue("chat-2")
    finally:
        first.stop()
    second = start_server(policy, settings=first.settings)  # both offers go back
    try:
        c = second.client()
        timers = second.server.tenants.timers
        wait_for(lambda: (timers.next_due() or 1e18) > time.time(), what="the load's matching")
        # One assignment gives each agent one interaction: chat-2 used to wait beside ann.
        assert [c.get(i).offer.agent_id for i in ("chat-1", "chat-2")] == ["ann", "ann"]
    finally:
        second.stop()
        drop_prefix(first.settings.prefix)
