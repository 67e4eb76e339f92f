"""Hold, Resume and SubmitFeedback over gRPC on a live server and a real Redis, on a manual
clock: hold time measured across holds and restarts, a hold closed by Complete, the hold
limit's event once, the hold histogram and measure on /metrics; FEEDBACK_REQUESTED in the
history and the tenant's stream, SubmitFeedback's CSAT counted once in GetStats, its
window, a completed interaction read back from Redis, each bad field named, and a comment
that never reaches a log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import redis
from prometheus_client import CollectorRegistry

from cim_router._pb import router_pb2 as pb
from cim_router.domain.channel import Channel
from cim_router.domain.policy import Policy
from cim_router.observability import Observer, ObserverSettings
from cim_router.store import codec
from cim_router.store.keys import Keys
from cim_router.tenant.clock import ManualClock
from tests.observability.conftest import scrape
from tests.redis_server import drop_prefix, redis_url
from tests.service.conftest import Client, Running, fast_policy, start_server

WRAP = 30.0
POLICY = fast_policy(
    offer_timeout_seconds=3600.0,
    wrap_up_seconds=dict.fromkeys(Channel, WRAP),
    hold_limit_seconds=120.0,
    feedback_window_seconds=3600.0,
)
COMMENT = "the agent was lovely, call me on 0612345678"
INVALID = grpc.StatusCode.INVALID_ARGUMENT
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION


class Live:
    """A server on a manual clock, restartable on the same Redis and clock."""

    def __init__(self, policy: Policy, **kw: Any) -> None:
        self.policy = policy
        self.clock = ManualClock()
        self.kw = kw
        self.running = start_server(policy, clock=self.clock, **kw)
        self.client = self.running.client()

    def advance(self, seconds: float) -> None:
        """Move the clock and fire what fell due at once (the clock task would within a
        second)."""
        self.clock.advance(seconds)
        self.running.run(self.running.server.tenants.fire_due())

    def restart(self) -> None:
        self.running.stop()
        self.running = start_server(self.policy, self.running.settings, clock=self.clock)
        self.client = self.running.client()

    def stop(self) -> None:
        self.running.stop()
        drop_prefix(self.running.settings.prefix)


@pytest.fixture
def live() -> Iterator[Live]:
    server = Live(POLICY)
    try:
        yield server
    finally:
        server.stop()


def assigned(c: Client, iid: str = "c1", **kw: Any) -> None:
    c.agent("ann")
    c.enqueue(iid, **kw)
    c.Accept(pb.AcceptRequest(interaction_id=iid, agent_id="ann"))


def hold(c: Client, iid: str = "c1", **kw: Any) -> pb.Interaction:
    answer: pb.Interaction = c.Hold(pb.HoldRequest(interaction_id=iid, **kw))
    return answer


def resume(c: Client, iid: str = "c1", **kw: Any) -> pb.Interaction:
    answer: pb.Interaction = c.Resume(pb.ResumeRequest(interaction_id=iid, **kw))
    return answer


def feedback(c: Client, iid: str, csat: int, **kw: Any) -> pb.Interaction:
    answer: pb.Interaction = c.SubmitFeedback(
        pb.SubmitFeedbackRequest(interaction_id=iid, csat=csat, **kw)
    )
    return answer


def refused(call: Any, request: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call(request)
    return err.value


def types(i: pb.Interaction) -> list[int]:
    return [e.type for e in i.history]


def tenant_today(stats: pb.Stats) -> pb.Measures:
    (row,) = [
        m
        for m in stats.measures
        if (m.queue_id, m.channel, m.window) == ("", pb.CHANNEL_UNSPECIFIED, "today")
    ]
    return row


def test_hold_time_across_two_holds_is_exact(live: Live) -> None:
    c = live.client
    assigned(c)
    on = hold(c, agent_id="ann", reason="checking")
    assert on.on_hold and on.hold_count == 1 and on.hold_seconds == 0.0
    assert on.hold_started_at.ToNanoseconds() == round(live.clock() * 1e9)
    live.advance(25.0)
    running = c.get("c1")
    assert running.on_hold and running.hold_seconds == 25.0  # a running hold counts to now
    off = resume(c, agent_id="ann")
    assert not off.on_hold and not off.HasField("hold_started_at") and off.hold_seconds == 25.0
    live.advance(100.0)
    hold(c)
    live.advance(12.5)
    resume(c)
    got = c.get("c1")
    assert (got.hold_count, got.hold_seconds, got.on_hold) == (2, 37.5, False)
    held = [e for e in got.history if e.type == pb.EVENT_TYPE_HELD]
    assert [e.reason for e in held] == ["checking", ""] and held[0].agent_id == "ann"
    assert types(got).count(pb.EVENT_TYPE_RESUMED) == 2


def test_hold_refusals_are_failed_precondition_or_not_found(live: Live) -> None:
    c = live.client
    c.agent("ann")
    c.enqueue("c1")
    assert refused(c.Hold, pb.HoldRequest(interaction_id="c1")).code() == PRECONDITION  # OFFERED
    c.Accept(pb.AcceptRequest(interaction_id="c1", agent_id="ann"))
    assert refused(c.Resume, pb.ResumeRequest(interaction_id="c1")).code() == PRECONDITION
    hold(c)
    again = refused(c.Hold, pb.HoldRequest(interaction_id="c1"))
    assert again.code() == PRECONDITION and "already on hold" in (again.details() or "")
    other = refused(c.Hold, pb.HoldRequest(interaction_id="c1", agent_id="bo"))
    assert other.code() == PRECONDITION
    assert refused(c.Hold, pb.HoldRequest(interaction_id="zz")).code() == grpc.StatusCode.NOT_FOUND
    assert c.get("c1").hold_count == 1


def test_a_hold_running_at_completion_is_closed_and_counted(live: Live) -> None:
    c = live.client
    assigned(c)
    hold(c)
    live.advance(40.0)
    done = c.Complete(pb.CompleteRequest(interaction_id="c1"))
    assert (done.on_hold, done.hold_count, done.hold_seconds) == (False, 1, 40.0)
    resumed = [e for e in c.get("c1").history if e.type == pb.EVENT_TYPE_RESUMED]
    assert [e.reason for e in resumed] == ["completed"]
    live.advance(WRAP + 60.0)  # long after: nothing runs on
    assert c.get("c1").hold_seconds == 40.0


def test_the_hold_limit_fires_once_after_the_limit(live: Live) -> None:
    c = live.client
    assigned(c)
    hold(c)
    live.advance(119.0)
    assert pb.EVENT_TYPE_HOLD_LIMIT_EXCEEDED not in types(c.get("c1"))
    live.advance(1.0)
    assert types(c.get("c1")).count(pb.EVENT_TYPE_HOLD_LIMIT_EXCEEDED) == 1
    live.advance(500.0)
    got = c.get("c1")
    assert types(got).count(pb.EVENT_TYPE_HOLD_LIMIT_EXCEEDED) == 1 and got.hold_seconds == 620.0


def test_a_restart_keeps_the_hold_state(live: Live) -> None:
    c = live.client
    assigned(c)
    hold(c)
    live.advance(10.0)
    resume(c)
    hold(c)
    live.advance(5.0)
    before = c.get("c1")
    live.restart()
    c = live.client
    after = c.get("c1")
    assert (after.on_hold, after.hold_count, after.hold_started_at) == (
        True,
        2,
        before.hold_started_at,
    )
    assert after.hold_seconds == 15.0
    live.advance(114.0)  # the second hold has run 119 s
    assert pb.EVENT_TYPE_HOLD_LIMIT_EXCEEDED not in types(c.get("c1"))
    live.advance(1.0)  # the limit's timer, armed again by the load: 120 s into the hold
    assert types(c.get("c1")).count(pb.EVENT_TYPE_HOLD_LIMIT_EXCEEDED) == 1
    assert resume(c).hold_seconds == 130.0  # 10 + 120


def test_the_hold_histogram_and_average_hold_time_on_metrics() -> None:
    observer = Observer(CollectorRegistry(), POLICY, ObserverSettings())
    server = Live(POLICY, observer=observer, metrics_port=0)
    try:
        c = server.client
        assigned(c)
        for seconds in (20.0, 40.0):
            hold(c)
            server.advance(seconds)
            resume(c)
        metrics = server.running.server.metrics
        assert metrics is not None
        seen = scrape(metrics.url)
        labels = {"tenant": "default", "channel": "chat"}
        assert seen.value("cim_router_hold_seconds_count", **labels) == 2
        assert seen.value("cim_router_hold_seconds_sum", **labels) == 60.0
        assert seen.value("cim_router_holds_total", **labels) == 2
        assert (
            seen.value(
                "cim_router_queue_average_hold_time_seconds",
                queue="default",
                channel="chat",
                window="today",
            )
            == 30.0
        )
    finally:
        server.stop()


def test_completion_records_feedback_requested_in_history_and_stream(live: Live) -> None:
    c = live.client
    assigned(c, customer_id="cust-7", context={"card": "4111"})
    c.Complete(pb.CompleteRequest(interaction_id="c1"))
    assert pb.EVENT_TYPE_FEEDBACK_REQUESTED not in types(c.get("c1"))  # wrap-up first
    live.advance(WRAP)
    got = c.get("c1")
    (asked,) = [e for e in got.history if e.type == pb.EVENT_TYPE_FEEDBACK_REQUESTED]
    assert (asked.interaction_id, asked.agent_id, asked.reason) == ("c1", "ann", "cust-7")
    assert asked.channel == pb.CHANNEL_CHAT and got.HasField("completed_at")
    settings = live.running.settings
    db = redis.Redis.from_url(redis_url())
    try:
        stream: list[tuple[bytes, dict[bytes, bytes]]] = db.xrange(  # type: ignore[assignment]
            Keys(settings.prefix).events("default")
        )
    finally:
        db.close()
    found = [codec.event_in(fields[b"e"]) for _, fields in stream]
    requested = [e for e in found if e.type.name == "FEEDBACK_REQUESTED"]
    assert len(requested) == 1 and requested[0].reason == "cust-7"
    assert all(b"4111" not in fields[b"e"] for _, fields in stream)


def test_feedback_after_completion_counts_once_in_get_stats(live: Live) -> None:
    c = live.client
    assigned(c)
    c.Complete(pb.CompleteRequest(interaction_id="c1", csat=2))
    live.advance(WRAP)
    assert tenant_today(c.GetStats(pb.GetStatsRequest())).csat_mean == 2.0
    got = feedback(c, "c1", 4, comment="fine", fields={"nps": "8"})
    assert (got.csat, got.feedback_comment, dict(got.feedback_fields)) == (4, "fine", {"nps": "8"})
    row = tenant_today(c.GetStats(pb.GetStatsRequest()))
    assert (row.csat_count, row.csat_mean) == (1, 4.0)
    feedback(c, "c1", 5)
    row = tenant_today(c.GetStats(pb.GetStatsRequest()))
    assert (row.csat_count, row.csat_mean) == (1, 5.0)
    later = c.get("c1")
    assert later.feedback_comment == "" and types(later).count(pb.EVENT_TYPE_FEEDBACK_RECEIVED) == 2
    # Complete's CSAT is still refused once COMPLETED.
    late = refused(c.Complete, pb.CompleteRequest(interaction_id="c1", csat=1))
    assert late.code() == PRECONDITION


def test_feedback_window_and_states(live: Live) -> None:
    c = live.client
    assigned(c)
    early = refused(c.SubmitFeedback, pb.SubmitFeedbackRequest(interaction_id="c1", csat=4))
    assert early.code() == PRECONDITION  # ASSIGNED
    c.Complete(pb.CompleteRequest(interaction_id="c1"))
    wrapping = refused(c.SubmitFeedback, pb.SubmitFeedbackRequest(interaction_id="c1", csat=4))
    assert wrapping.code() == PRECONDITION  # in wrap-up
    live.advance(WRAP)
    live.advance(3600.0)
    feedback(c, "c1", 4)  # at the window's end
    live.advance(1.0)
    late = refused(c.SubmitFeedback, pb.SubmitFeedbackRequest(interaction_id="c1", csat=5))
    assert late.code() == PRECONDITION and "feedback_window_seconds" in (late.details() or "")
    assert c.get("c1").csat == 4
    c.enqueue("c2")
    c.Cancel(pb.CancelRequest(interaction_id="c2"))
    gone = refused(c.SubmitFeedback, pb.SubmitFeedbackRequest(interaction_id="c2", csat=4))
    assert gone.code() == PRECONDITION
    unknown = refused(c.SubmitFeedback, pb.SubmitFeedbackRequest(interaction_id="zz", csat=4))
    assert unknown.code() == grpc.StatusCode.NOT_FOUND


def test_feedback_on_a_completed_interaction_read_back_from_redis(live: Live) -> None:
    c = live.client
    assigned(c)
    c.Complete(pb.CompleteRequest(interaction_id="c1", csat=3))
    live.advance(WRAP)
    live.restart()  # a load keeps only open interactions in memory
    c = live.client
    got = feedback(c, "c1", 5, comment="better")
    assert got.csat == 5 and got.feedback_comment == "better"
    row = tenant_today(c.GetStats(pb.GetStatsRequest()))
    assert (row.csat_count, row.csat_mean) == (1, 5.0)
    live.restart()
    assert live.client.get("c1").feedback_comment == "better"


@pytest.mark.parametrize(
    ("method", "request_", "field"),
    [
        ("Hold", pb.HoldRequest(), "interaction_id"),
        ("Hold", pb.HoldRequest(interaction_id="c1", agent_id="a" * 129), "agent_id"),
        ("Hold", pb.HoldRequest(interaction_id="c1", reason="r" * 257), "reason"),
        ("Hold", pb.HoldRequest(interaction_id="c1", reason="a\x00b"), "reason"),
        ("Resume", pb.ResumeRequest(interaction_id=""), "interaction_id"),
        ("Resume", pb.ResumeRequest(interaction_id="c1", agent_id="\x01"), "agent_id"),
        ("SubmitFeedback", pb.SubmitFeedbackRequest(csat=4), "interaction_id"),
        ("SubmitFeedback", pb.SubmitFeedbackRequest(interaction_id="c1"), "csat"),
        ("SubmitFeedback", pb.SubmitFeedbackRequest(interaction_id="c1", csat=6), "csat"),
        (
            "SubmitFeedback",
            pb.SubmitFeedbackRequest(interaction_id="c1", csat=4, comment="x" * 2001),
            "comment",
        ),
        (
            "SubmitFeedback",
            pb.SubmitFeedbackRequest(interaction_id="c1", csat=4, comment="a\x00"),
            "comment",
        ),
        (
            "SubmitFeedback",
            pb.SubmitFeedbackRequest(
                interaction_id="c1", csat=4, fields={f"q{k}": "1" for k in range(33)}
            ),
            "fields",
        ),
        (
            "SubmitFeedback",
            pb.SubmitFeedbackRequest(interaction_id="c1", csat=4, fields={"": "1"}),
            "fields",
        ),
        (
            "SubmitFeedback",
            pb.SubmitFeedbackRequest(interaction_id="c1", csat=4, fields={"n" * 65: "1"}),
            "fields",
        ),
        (
            "SubmitFeedback",
            pb.SubmitFeedbackRequest(interaction_id="c1", csat=4, fields={"nps": "9" * 257}),
            "fields['nps']",
        ),
    ],
)
def test_bad_input_names_the_field_and_changes_nothing(
    running: Running, method: str, request_: Any, field: str
) -> None:
    c = running.client()
    c.agent("ann")
    c.enqueue("c1")
    c.Accept(pb.AcceptRequest(interaction_id="c1", agent_id="ann"))
    before = c.get("c1")
    err = refused(getattr(c, method), request_)
    assert err.code() == INVALID, err.details()
    assert (err.details() or "").startswith(f"{field}: "), err.details()
    assert c.get("c1") == before


def test_a_feedback_comment_never_reaches_a_log(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    c = live.client
    assigned(c, customer_id="cust-3")
    c.Complete(pb.CompleteRequest(interaction_id="c1"))
    live.advance(WRAP)
    feedback(c, "c1", 4, comment=COMMENT, fields={"note": COMMENT})
    too_long = COMMENT * 60
    refused(
        c.SubmitFeedback, pb.SubmitFeedbackRequest(interaction_id="c1", csat=4, comment=too_long)
    )
    early = refused(
        c.SubmitFeedback, pb.SubmitFeedbackRequest(interaction_id="zz", csat=4, comment=COMMENT)
    )
    assert COMMENT not in (early.details() or "")
    assert c.get("c1").feedback_comment == COMMENT
    assert caplog.records, "nothing was logged: the check would prove nothing"
    for record in caplog.records:
        text = record.getMessage() + repr(vars(record))
        assert "0612345678" not in text, record
