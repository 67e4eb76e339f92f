"""Every change records who made it: the principal's caller on each history event and on
each event stream entry, call by call; the router's own steps (expiries, the end of a
wrap-up) as "router"."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import orjson
import pytest
import redis

from cim_router._pb import router_pb2 as pb
from cim_router.store.keys import Keys
from tests.redis_server import drop_prefix, redis_url
from tests.service.conftest import Running, start_server, wait_for
from tests.service.principals import As, HeaderAccess

T = pb.EventType


@pytest.fixture
def server() -> Iterator[Running]:
    running = start_server(access=HeaderAccess())
    try:
        yield running
    finally:
        running.stop()
        drop_prefix(running.settings.prefix)


def _history(channel: grpc.Channel, iid: str) -> list[pb.HistoryEvent]:
    got: pb.Interaction = As(channel).GetInteraction(pb.GetInteractionRequest(interaction_id=iid))
    return [e for e in got.history if e.interaction_id == iid]


def _stream(running: Running) -> list[tuple[int, str, str]]:
    """(type, interaction, caller) of each event stream entry."""
    r = redis.Redis.from_url(redis_url())
    try:
        entries: Any = r.xrange(Keys(running.settings.prefix).events("default"), "-", "+")
    finally:
        r.close()
    out = []
    for _, fields in entries:
        e = orjson.loads(fields[b"e"])
        out.append((int(e[1]), str(e[2]), str(e[6])))
    return out


def test_each_call_and_each_router_step_is_recorded_with_its_caller(server: Running) -> None:
    channel = grpc.insecure_channel(server.server.address)
    server.channels.append(channel)

    def by(caller: str) -> As:
        return As(channel, "router", caller)

    billing = [pb.SkillRequirement(skill="billing", min_level=1)]
    up = pb.UpsertAgentRequest
    by("key-up1").UpsertAgent(
        up(agent_id="a1", skills={"billing": 5}, state=pb.AGENT_STATE_AVAILABLE)
    )
    by("key-enq").Enqueue(
        pb.EnqueueRequest(interaction_id="i1", channel=pb.CHANNEL_CHAT, required_skills=billing)
    )
    by("key-rej").Reject(pb.RejectRequest(interaction_id="i1", agent_id="a1"))
    by("key-up2").UpsertAgent(
        up(agent_id="a2", skills={"billing": 5}, state=pb.AGENT_STATE_AVAILABLE)
    )
    by("key-acc").Accept(pb.AcceptRequest(interaction_id="i1", agent_id="a2"))
    ctx = pb.UpdateContextRequest(interaction_id="i1")
    ctx.context.update({"note": "x"})
    by("key-ctx").UpdateContext(ctx)
    by("key-up3").UpsertAgent(
        up(agent_id="a3", skills={"billing": 5}, state=pb.AGENT_STATE_AVAILABLE, tier=5)
    )
    by("key-xfer").Transfer(
        pb.TransferRequest(interaction_id="i1", mode=pb.TRANSFER_MODE_WARM, agent_id="a3")
    )
    by("key-cxl").CancelTransfer(pb.CancelTransferRequest(interaction_id="i1"))
    by("key-done").Complete(pb.CompleteRequest(interaction_id="i1", agent_id="a2"))
    wait_for(
        lambda: any(e.type == T.EVENT_TYPE_COMPLETED for e in _history(channel, "i1")),
        what="the end of wrap-up",
    )
    by("key-enq2").Enqueue(pb.EnqueueRequest(interaction_id="i2", channel=pb.CHANNEL_CHAT))
    wait_for(
        lambda: any(e.type == T.EVENT_TYPE_OFFER_EXPIRED for e in _history(channel, "i2")),
        what="an offer expiring",
    )
    by("key-esc").Escalate(pb.EscalateRequest(interaction_id="i2"))
    by("key-can").Cancel(pb.CancelRequest(interaction_id="i2"))
    for agent_id in ("a1", "a2", "a3"):
        state = pb.AGENT_STATE_AVAILABLE if agent_id == "a1" else pb.AGENT_STATE_OFFLINE
        by("key-st").SetAgentState(pb.SetAgentStateRequest(agent_id=agent_id, state=state))
    by("key-enq3").Enqueue(pb.EnqueueRequest(interaction_id="i3", channel=pb.CHANNEL_CHAT))
    by("key-pull").Assign(pb.AssignRequest(agent_id="a1"))

    history = _history(channel, "i1") + _history(channel, "i2") + _history(channel, "i3")
    callers: dict[tuple[int, str], set[str]] = {}
    for e in history:
        callers.setdefault((e.type, e.interaction_id), set()).add(e.caller)
    expected = {
        (T.EVENT_TYPE_ENQUEUED, "i1"): {"key-enq"},
        (T.EVENT_TYPE_REJECTED, "i1"): {"key-rej"},
        (T.EVENT_TYPE_ACCEPTED, "i1"): {"key-acc"},
        (T.EVENT_TYPE_CONTEXT_UPDATED, "i1"): {"key-ctx"},
        (T.EVENT_TYPE_TRANSFER_REQUESTED, "i1"): {"key-xfer"},
        (T.EVENT_TYPE_TRANSFER_CANCELLED, "i1"): {"key-cxl"},
        (T.EVENT_TYPE_WRAP_UP_STARTED, "i1"): {"key-done"},
        (T.EVENT_TYPE_COMPLETED, "i1"): {"router"},  # the wrap-up timer
        (T.EVENT_TYPE_ENQUEUED, "i2"): {"key-enq2"},
        (T.EVENT_TYPE_OFFER_EXPIRED, "i2"): {"router"},
        (T.EVENT_TYPE_ESCALATED, "i2"): {"key-esc"},
        (T.EVENT_TYPE_CANCELLED, "i2"): {"key-can"},
        (T.EVENT_TYPE_OFFERED, "i3"): {"key-enq3"},
        (T.EVENT_TYPE_ACCEPTED, "i3"): {"key-pull"},  # Assign took the offer
    }
    assert {k: callers.get(k) for k in expected} == expected
    # The offers each call made are that call's: a1's by the Enqueue, a2's by its upsert.
    offers = [e for e in history if e.type == T.EVENT_TYPE_OFFERED and e.interaction_id == "i1"]
    assert [(e.agent_id, e.caller) for e in offers][:3] == [
        ("a1", "key-enq"),
        ("a2", "key-up2"),
        ("a3", "key-xfer"),
    ]
    assert all(e.caller for e in history)  # none unattributed
    # The event stream carries the same callers, entry for entry.
    stream = [s for s in _stream(server) if s[1] in ("i1", "i2", "i3")]
    assert sorted(stream) == sorted((e.type, e.interaction_id, e.caller) for e in history)
