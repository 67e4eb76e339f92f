"""Defects the live-server property suite (test_fuzz.py) found, each as the shortest
sequence of calls that showed it: each test failed before its fix."""

from __future__ import annotations

from cim_router._pb import router_pb2 as pb
from cim_router.domain.channel import Channel
from tests.redis_server import drop_prefix
from tests.service.conftest import fast_policy, start_server


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
