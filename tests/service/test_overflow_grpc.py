"""Overflow rules, hours and queue limits over real gRPC on a live server and a real Redis,
on a manual clock: a chain of moves ending in a disposition, recorded in the history and
shown by Explain, across a restart; a queue closing at its hour and on a holiday; the
maximum size and the maximum wait; the counts in GetStats and the metrics."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from cim_router._pb import router_pb2 as pb
from tests.service.conftest import Client
from tests.service.manual_clock import MONDAY_8, Server, manual_server

WAITED, CLOSED, SIZE = (
    pb.OVERFLOW_CONDITION_WAITED,
    pb.OVERFLOW_CONDITION_CLOSED,
    pb.OVERFLOW_CONDITION_SIZE,
)
MOVE, END = pb.OVERFLOW_ACTION_MOVE, pb.OVERFLOW_ACTION_END


@pytest.fixture
def server() -> Iterator[Server]:
    yield from manual_server()


def queue(client: Client, id: str, **kw: object) -> pb.QueueStatus:
    out: pb.QueueStatus = client.UpsertQueue(pb.UpsertQueueRequest(queue=pb.Queue(id=id, **kw)))  # type: ignore[arg-type]
    return out


def enqueue(client: Client, iid: str, queue_id: str) -> pb.EnqueueResponse:
    return client.enqueue(iid, channel=pb.CHANNEL_VOICE, queue_id=queue_id)


def test_a_chain_of_moves_ends_with_a_disposition_and_survives_a_restart(server: Server) -> None:
    c = server.client
    queue(
        c,
        "voicemail-line",
        overflow=[
            pb.OverflowRule(
                name="give-up", when=WAITED, threshold=90, then=END, disposition="voicemail"
            )
        ],
    )
    queue(
        c,
        "tier2",
        overflow=[
            pb.OverflowRule(
                name="to-vm", when=WAITED, threshold=60, then=MOVE, queue_id="voicemail-line"
            )
        ],
    )
    queue(
        c,
        "tier1",
        overflow=[
            pb.OverflowRule(
                name="to-t2", when=WAITED, threshold=30, then=MOVE, queue_id="tier2", to_back=True
            )
        ],
    )
    enqueue(c, "call", "tier1")
    server.advance(30)
    got = c.get("call")
    assert got.queue_id == "tier2"
    # Moved to the back: its wait starts again at the move.
    assert got.enqueued_at.ToSeconds() == int(MONDAY_8 + 30)
    fired = [(e.queue_id, e.rule) for e in got.history if e.type == pb.EVENT_TYPE_RULE_FIRED]
    assert fired == [("tier1", "to-t2")]
    assert any(e.type == pb.EVENT_TYPE_QUEUE_CHANGED and e.queue_id == "tier2" for e in got.history)
    why = c.Explain(pb.ExplainRequest(interaction_id="call"))
    assert list(why.rules_fired) == ["tier1/to-t2"] and why.queue_id == "tier2"
    server.restart()
    c = server.client
    server.advance(59)
    assert c.get("call").queue_id == "tier2"
    server.advance(1)
    assert c.get("call").queue_id == "voicemail-line"
    server.advance(30)  # 90 s after the move to the back
    done = c.get("call")
    assert done.state == pb.INTERACTION_STATE_CANCELLED
    assert done.disposition == "voicemail"
    why = c.Explain(pb.ExplainRequest(interaction_id="call"))
    assert list(why.rules_fired) == ["tier1/to-t2", "tier2/to-vm", "voicemail-line/give-up"]
    rows = c.GetStats(pb.GetStatsRequest()).measures
    out = {m.queue_id: m.overflowed for m in rows if m.window == "today" and m.channel == 0}
    assert out["tier1"] == 1 and out["tier2"] == 1 and out["voicemail-line"] == 1


def test_a_queue_closes_at_its_hour_and_on_a_holiday(server: Server) -> None:
    c = server.client
    queue(c, "after-hours")
    hours = pb.Hours(
        time_zone="UTC",
        weekly=[
            pb.DayHours(day="mon", intervals=["08:00-09:00"]),
            pb.DayHours(day="tue", intervals=["08:00-09:00"]),
        ],
        exceptions=[pb.DateHours(date="2026-12-01")],  # Tuesday: a holiday
    )
    rule = pb.OverflowRule(name="closed", when=CLOSED, then=MOVE, queue_id="after-hours")
    status = queue(c, "office", hours=hours, overflow=[rule])
    assert status.open
    enqueue(c, "early", "office")
    assert c.get("early").queue_id == "office"
    server.advance(3600)  # 09:00: it closes, and the work waiting in it moves
    assert c.get("early").queue_id == "after-hours"
    assert not c.GetQueue(pb.GetQueueRequest(queue_id="office")).open
    server.advance(23 * 3600 + 60)  # Tuesday 08:01, the holiday
    assert not c.GetQueue(pb.GetQueueRequest(queue_id="office")).open
    assert enqueue(c, "holiday", "office").interaction.queue_id == "after-hours"


def test_size_and_wait_limits(server: Server) -> None:
    c = server.client
    queue(c, "small", max_size=1)
    enqueue(c, "first", "small")
    with pytest.raises(grpc.RpcError) as err:
        enqueue(c, "second", "small")
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(grpc.RpcError):
        c.get("second")  # refused: nothing was made
    queue(c, "overflow")
    shed = pb.OverflowRule(name="shed", when=SIZE, threshold=1, then=MOVE, queue_id="overflow")
    queue(c, "small", max_size=1, overflow=[shed])
    assert enqueue(c, "second", "small").interaction.queue_id == "overflow"
    queue(c, "patient", max_wait_seconds=45)
    enqueue(c, "waits", "patient")
    server.advance(44)
    assert c.get("waits").state == pb.INTERACTION_STATE_QUEUED
    server.advance(1)
    ended = c.get("waits")
    assert ended.state == pb.INTERACTION_STATE_CANCELLED
    assert ended.disposition == "max_wait"


def test_a_bad_rule_is_refused_and_changes_nothing(server: Server) -> None:
    c = server.client
    queue(c, "a")
    bad = pb.OverflowRule(name="x", when=WAITED, threshold=5, then=MOVE, queue_id="nowhere")
    with pytest.raises(grpc.RpcError) as err:
        queue(c, "a", overflow=[bad])
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "queue.overflow[0].queue" in (err.value.details() or "")
    assert list(c.GetQueue(pb.GetQueueRequest(queue_id="a")).queue.overflow) == []
