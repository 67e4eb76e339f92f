"""Race storms: many clients at once on shared interactions and agents, over real gRPC;
and what they found, pinned down."""

from __future__ import annotations

from cim_router._pb import router_pb2 as pb
from tests.service.conftest import Client

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
