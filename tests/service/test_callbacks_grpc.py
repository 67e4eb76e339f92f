"""Callbacks, scheduled and outbound work over real gRPC on a live server and a real
Redis, on a manual clock: a callback keeps its place and is offered in order, is retried
after a no-answer, and survives a restart; not_before holds work back until its time;
the stats count what is held apart and outbound work as such."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from cim_router._pb import router_pb2 as pb
from cim_router.domain.policy import policy_from_mapping
from tests.service.manual_clock import Server, manual_server

POLICY = policy_from_mapping(
    {"offer_timeout_seconds": 60, "callbacks": {"max_attempts": 2, "retry_seconds": 600}}
)


@pytest.fixture
def server() -> Iterator[Server]:
    yield from manual_server(POLICY)


def accept(s: Server, iid: str, agent: str) -> pb.Interaction:
    out: pb.Interaction = s.client.Accept(pb.AcceptRequest(interaction_id=iid, agent_id=agent))
    return out


def test_a_callback_keeps_its_place_is_retried_and_survives_a_restart(server: Server) -> None:
    c = server.client
    for n in range(3):
        c.enqueue(f"call-{n}", channel=pb.CHANNEL_VOICE)
        server.advance(5)
    cb = c.RequestCallback(
        pb.RequestCallbackRequest(interaction_id="call-1", address="+33123456789")
    )
    assert cb.direction == pb.DIRECTION_OUTBOUND and cb.callback.address == "+33123456789"
    assert cb.callback.max_attempts == 2 and cb.callback.retry_seconds == 600
    server.restart()
    c = server.client
    assert c.get("call-1").callback.address == "+33123456789"
    c.agent("ann")
    assert c.get("call-0").offer.agent_id == "ann"  # the oldest first
    accept(server, "call-0", "ann")
    c.Complete(pb.CompleteRequest(interaction_id="call-0", agent_id="ann"))
    server.advance(60)  # wrap-up
    assert c.get("call-1").offer.agent_id == "ann"  # the callback, in its place
    assert not c.get("call-2").HasField("offer")
    accept(server, "call-1", "ann")
    c.Complete(pb.CompleteRequest(interaction_id="call-1", agent_id="ann", disposition="no_answer"))
    retry = c.get("call-1")
    assert retry.state == pb.INTERACTION_STATE_QUEUED
    assert [a.outcome for a in retry.callback.attempts] == ["no_answer"]
    assert retry.not_before.ToSeconds() == int(server.clock() + 600)
    assert c.get("call-2").offer.agent_id == "ann"  # meanwhile the next one is served
    assert c.GetStats(pb.GetStatsRequest()).held == 1
    server.restart()
    c = server.client
    accept(server, "call-2", "ann")
    c.Complete(pb.CompleteRequest(interaction_id="call-2", agent_id="ann"))
    server.advance(600)
    again = c.get("call-1")
    assert again.offer.agent_id == "ann" and not again.HasField("not_before")
    accept(server, "call-1", "ann")
    done = c.Complete(
        pb.CompleteRequest(interaction_id="call-1", agent_id="ann", disposition="sold")
    )
    assert done.disposition == "sold"
    assert [a.outcome for a in done.callback.attempts] == ["no_answer", "sold"]
    kinds = [e.type for e in c.get("call-1").history]
    assert kinds.count(pb.EVENT_TYPE_CALLBACK_ATTEMPTED) == 2
    assert pb.EVENT_TYPE_CALLBACK_REQUESTED in kinds and pb.EVENT_TYPE_RELEASED in kinds
    rows = c.GetStats(pb.GetStatsRequest()).measures
    (tenant,) = [m for m in rows if m.window == "today" and not m.queue_id and not m.channel]
    assert (tenant.callbacks, tenant.callback_attempts) == (1, 2)


def test_not_before_holds_scheduled_work_until_its_time(server: Server) -> None:
    c = server.client
    c.agent("ann")
    request = pb.EnqueueRequest(
        interaction_id="follow-up", channel=pb.CHANNEL_EMAIL, direction=pb.DIRECTION_OUTBOUND
    )
    request.not_before.FromSeconds(int(server.clock()) + 3600)
    made = c.Enqueue(request).interaction
    assert made.state == pb.INTERACTION_STATE_QUEUED and not made.HasField("offer")
    assert made.not_before.ToSeconds() == int(server.clock()) + 3600
    listed = c.ListInteractions(pb.ListInteractionsRequest()).interactions
    assert [i.id for i in listed] == ["follow-up"]
    stats = c.GetStats(pb.GetStatsRequest())
    assert (stats.waiting, stats.held) == (0, 1)
    server.restart()
    server.advance(3599)
    assert not server.client.get("follow-up").HasField("offer")
    server.advance(1)
    assert server.client.get("follow-up").offer.agent_id == "ann"


def test_bad_callback_and_schedule_requests_name_the_field(server: Server) -> None:
    c = server.client
    c.enqueue("chat", channel=pb.CHANNEL_CHAT)
    c.enqueue("call", channel=pb.CHANNEL_VOICE)
    for request, field in (
        (pb.RequestCallbackRequest(interaction_id="chat", address="1"), "interaction_id"),
        (pb.RequestCallbackRequest(interaction_id="call"), "address"),
        (
            pb.RequestCallbackRequest(interaction_id="call", address="1", max_attempts=99),
            "max_attempts",
        ),
        (
            pb.RequestCallbackRequest(interaction_id="call", address="1", retry_seconds=-1),
            "retry_seconds",
        ),
    ):
        with pytest.raises(grpc.RpcError) as err:
            c.RequestCallback(request)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (err.value.details() or "").startswith(field), err.value.details()
    assert not c.get("call").HasField("callback")  # nothing changed
    far = pb.EnqueueRequest(interaction_id="far", channel=pb.CHANNEL_EMAIL)
    far.not_before.FromSeconds(int(server.clock()) + 400 * 86400)
    with pytest.raises(grpc.RpcError) as err:
        c.Enqueue(far)
    assert (err.value.details() or "").startswith("not_before")
    with pytest.raises(grpc.RpcError) as err:
        c.RequestCallback(pb.RequestCallbackRequest(interaction_id="nope", address="1"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
