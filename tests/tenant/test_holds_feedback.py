"""Holds and feedback on the tenant, on the manual clock: hold time measured and counted,
holds ended by completion, cancellation and transfer, the hold limit's event once per
hold (also across a restart); the survey request at completion, SubmitFeedback within its
window, its CSAT counted once, on a record no longer in memory, erased with the customer."""

from __future__ import annotations

from typing import Any

import pytest

from cim_router.domain.channel import Channel
from cim_router.domain.interaction import InteractionState
from cim_router.domain.policy import Policy
from cim_router.tenant import holds, reports
from cim_router.tenant.errors import FailedPrecondition, NotFound
from cim_router.tenant.measures import Tally, average_hold_time, csat_mean
from cim_router.tenant.records import EventType, InteractionRecord, TransferMode
from tests.tenant.harness import Harness, run

NO_WRAP = dict.fromkeys(Channel, 0.0)
POLICY = Policy(offer_timeout_seconds=15.0, wrap_up_seconds=NO_WRAP, relaxation=())


def kinds(h: Harness, interaction_id: str) -> list[EventType]:
    return [e.type for e in h.store.events("t") if e.interaction_id == interaction_id]


async def hold(h: Harness, iid: str, agent_id: str = "", reason: str = "") -> InteractionRecord:
    return await h.hold(iid, agent_id, reason)


async def resume(h: Harness, iid: str, agent_id: str = "") -> InteractionRecord:
    return await h.resume(iid, agent_id)


async def submit(
    h: Harness, iid: str, csat: int, comment: str = "", fields: dict[str, str] | None = None
) -> InteractionRecord:
    return await h.submit_feedback(iid, csat, comment, fields)


async def tenant_tally(h: Harness) -> Tally:
    stats = await reports.stats(h.router())
    (row,) = [
        m for m in stats["measures"] if m.window == "today" and not m.queue_id and m.channel is None
    ]
    tally: Tally = row.tally
    return tally


async def assigned(h: Harness, iid: str = "c1", **kw: Any) -> None:
    await h.agent("ann")
    await h.enqueue(iid, **kw)
    await h.accept(iid, "ann")


def test_two_holds_are_measured_to_the_second_and_counted() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await assigned(h)
        on = await hold(h, "c1", "ann", "checking the order")
        assert on.hold_started_at == h.clock() and on.hold_count == 1
        await h.advance(30.0)
        assert holds.hold_seconds_now(h.get("c1"), h.clock()) == 30.0  # running, read now
        off = await resume(h, "c1", "ann")
        assert off.hold_started_at == 0.0 and off.hold_seconds == 30.0
        await h.advance(10.0)
        await hold(h, "c1")
        await h.advance(12.5)
        await resume(h, "c1")
        rec = h.get("c1")
        assert (rec.hold_count, rec.hold_seconds) == (2, 42.5)
        tally = await tenant_tally(h)
        assert (tally.holds, tally.hold_seconds) == (2, 42.5)
        assert average_hold_time(tally) == 21.25
        events = [e for e in h.store.events("t") if e.type == EventType.HELD]
        assert events[0].reason == "checking the order" and events[0].agent_id == "ann"
        assert kinds(h, "c1")[-4:] == [
            EventType.HELD,
            EventType.RESUMED,
            EventType.HELD,
            EventType.RESUMED,
        ]

    run(body)


def test_hold_and_resume_refuse_the_wrong_state_and_change_nothing() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await h.agent("ann")
        await h.agent("bo")
        await h.enqueue("c1")  # offered to ann, not assigned
        with pytest.raises(FailedPrecondition, match="not ASSIGNED"):
            await hold(h, "c1")
        await h.accept("c1", "ann")
        with pytest.raises(FailedPrecondition, match="not on hold"):
            await resume(h, "c1")
        with pytest.raises(FailedPrecondition, match="not held by agent 'bo'"):
            await hold(h, "c1", "bo")
        await hold(h, "c1")
        with pytest.raises(FailedPrecondition, match="already on hold"):
            await hold(h, "c1")
        with pytest.raises(NotFound):
            await hold(h, "nope")
        assert h.get("c1").hold_count == 1
        await h.complete("c1")
        with pytest.raises(FailedPrecondition, match="COMPLETED"):
            await resume(h, "c1")

    run(body)


def test_a_hold_running_at_completion_is_closed_and_counted() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await assigned(h)
        await hold(h, "c1")
        await h.advance(20.0)
        done = await h.complete("c1")
        assert done.interaction.state == InteractionState.COMPLETED
        assert (done.hold_started_at, done.hold_count, done.hold_seconds) == (0.0, 1, 20.0)
        resumed = [e for e in h.store.events("t") if e.type == EventType.RESUMED]
        assert [e.reason for e in resumed] == [holds.ENDED_BY_COMPLETE]
        tally = await tenant_tally(h)
        assert (tally.holds, tally.hold_seconds) == (1, 20.0)

    run(body)


def test_cancel_and_a_cold_transfer_end_the_hold() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await h.agent("ann")
        await h.agent("bo", state=None)
        await h.enqueue("c1")
        await h.accept("c1", "ann")
        await hold(h, "c1")
        await h.advance(5.0)
        moved = await h.transfer("c1", TransferMode.COLD)
        assert moved.hold_started_at == 0.0 and moved.hold_seconds == 5.0
        await h.enqueue("c2")
        await h.accept("c2", "ann")
        await hold(h, "c2")
        await h.advance(7.0)
        gone = await h.cancel("c2")
        assert gone.hold_seconds == 7.0 and gone.hold_started_at == 0.0
        reasons = [e.reason for e in h.store.events("t") if e.type == EventType.RESUMED]
        assert reasons == [holds.ENDED_BY_TRANSFER, holds.ENDED_BY_CANCEL]

    run(body)


def test_a_warm_transfer_ends_the_hold_when_the_target_accepts() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await assigned(h)
        await h.agent("bo")
        await hold(h, "c1")
        await h.transfer("c1", TransferMode.WARM, agent_id="bo")
        await h.advance(8.0)
        assert h.get("c1").hold_started_at > 0  # ann still holds it, on hold
        taken = await h.accept("c1", "bo")
        assert (taken.agent_id, taken.hold_started_at, taken.hold_seconds) == ("bo", 0.0, 8.0)
        (ended,) = [e for e in h.store.events("t") if e.type == EventType.RESUMED]
        assert (ended.agent_id, ended.reason) == ("ann", holds.ENDED_BY_TRANSFER)

    run(body)


def test_the_hold_limit_raises_its_event_once_per_hold_also_across_a_restart() -> None:
    async def body() -> None:
        h = await Harness(Policy(wrap_up_seconds=NO_WRAP, hold_limit_seconds=60.0)).start()
        await assigned(h)
        await hold(h, "c1")
        await h.advance(59.0)
        assert EventType.HOLD_LIMIT_EXCEEDED not in kinds(h, "c1")
        await h.advance(1.0)
        assert kinds(h, "c1").count(EventType.HOLD_LIMIT_EXCEEDED) == 1
        await h.advance(600.0)
        assert kinds(h, "c1").count(EventType.HOLD_LIMIT_EXCEEDED) == 1
        await resume(h, "c1")
        await hold(h, "c1")  # a second hold: its own event, once
        await h.advance(30.0)
        again = await h.restart()  # a second later; the hold keeps running
        rec = again.get("c1")
        assert (rec.hold_count, rec.hold_started_at > 0, rec.hold_limit_raised) == (2, True, False)
        await again.advance(28.5)
        assert kinds(again, "c1").count(EventType.HOLD_LIMIT_EXCEEDED) == 1
        await again.advance(1.0)
        assert kinds(again, "c1").count(EventType.HOLD_LIMIT_EXCEEDED) == 2
        await again.restart()
        assert kinds(again, "c1").count(EventType.HOLD_LIMIT_EXCEEDED) == 2

    run(body)


def test_a_restart_keeps_the_hold_and_its_time() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await assigned(h)
        await hold(h, "c1")
        await h.advance(10.0)
        await resume(h, "c1")
        await hold(h, "c1")
        started = h.clock()
        again = await h.restart()
        rec = again.get("c1")
        assert (rec.hold_started_at, rec.hold_count, rec.hold_seconds) == (started, 2, 10.0)
        await again.advance(4.0)
        off = await resume(again, "c1")
        assert off.hold_seconds == 15.0  # 10 + the second hold's 1 + 4 across the restart

    run(body)


def test_completion_requests_feedback_without_context() -> None:
    async def body() -> None:
        h = await Harness(Policy(wrap_up_seconds=dict.fromkeys(Channel, 30.0))).start()
        await assigned(h, customer_id="cust-9", context={"card": "4111"})
        await h.complete("c1")
        assert EventType.FEEDBACK_REQUESTED not in kinds(h, "c1")  # in wrap-up: not yet
        await h.advance(30.0)
        (asked,) = [e for e in h.store.events("t") if e.type == EventType.FEEDBACK_REQUESTED]
        assert (asked.interaction_id, asked.agent_id, asked.reason) == ("c1", "ann", "cust-9")
        assert asked.channel == Channel.CHAT and "4111" not in repr(asked)
        assert h.get("c1").completed_at == h.clock()

    run(body)


def test_feedback_counts_its_csat_once_and_a_second_replaces_the_first() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await assigned(h)
        await h.complete("c1", csat=2)
        got = await submit(h, "c1", 4, "kind and quick", {"nps": "9"})
        assert (got.csat, got.feedback_comment, got.feedback_fields) == (
            4,
            "kind and quick",
            {"nps": "9"},
        )
        tally = await tenant_tally(h)
        assert (tally.csat_count, csat_mean(tally)) == (1, 4.0)
        again = await submit(h, "c1", 5)
        assert (again.csat, again.feedback_comment, again.feedback_fields) == (5, "", {})
        tally = await tenant_tally(h)
        assert (tally.csat_count, csat_mean(tally)) == (1, 5.0)
        assert kinds(h, "c1").count(EventType.FEEDBACK_RECEIVED) == 2
        await h.enqueue("c2")
        await h.accept("c2", "ann")
        await h.complete("c2")
        await submit(h, "c2", 3)  # a first score by SubmitFeedback alone
        tally = await tenant_tally(h)
        assert (tally.csat_count, tally.csat_sum) == (2, 8)

    run(body)


def test_feedback_only_after_completion_and_within_the_window() -> None:
    async def body() -> None:
        policy = Policy(wrap_up_seconds=dict.fromkeys(Channel, 30.0), feedback_window_seconds=600)
        h = await Harness(policy).start()
        await assigned(h)
        with pytest.raises(FailedPrecondition, match="ASSIGNED, not COMPLETED"):
            await submit(h, "c1", 4)
        await h.complete("c1")
        with pytest.raises(FailedPrecondition, match="WRAP_UP, not COMPLETED"):
            await submit(h, "c1", 4)
        await h.advance(30.0)
        await h.advance(600.0)
        await submit(h, "c1", 4)  # exactly at the window's end: still in it
        await h.advance(0.5)
        with pytest.raises(FailedPrecondition, match="feedback_window_seconds"):
            await submit(h, "c1", 5)
        assert h.get("c1").csat == 4
        await h.enqueue("c2")
        await h.cancel("c2")
        with pytest.raises(FailedPrecondition, match="CANCELLED, not COMPLETED"):
            await submit(h, "c2", 4)
        with pytest.raises(NotFound):
            await submit(h, "nope", 4)

    run(body)


def test_feedback_on_a_completed_interaction_no_longer_in_memory() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await assigned(h)
        await h.complete("c1", csat=3)
        h.router().closed.pop("c1")  # as when 10,000 later ones pushed it out
        got = await submit(h, "c1", 5, "fine")
        assert got.csat == 5 and got.feedback_comment == "fine"
        stored = await h.store.read_interaction("t", "c1")
        assert stored is not None and stored.csat == 5 and stored.feedback_comment == "fine"
        tally = await tenant_tally(h)
        assert (tally.csat_count, tally.csat_sum) == (1, 5)

    run(body)


def test_forget_customer_erases_the_feedback() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await assigned(h, customer_id="cust-1")
        await h.complete("c1")
        await submit(h, "c1", 4, "call me on 555", {"phone": "555"})
        await h.forget("cust-1")
        rec = h.get("c1")
        assert (rec.feedback_comment, rec.feedback_fields, rec.csat) == ("", {}, 4)
        stored = await h.store.read_interaction("t", "c1")
        assert stored is not None and stored.feedback_comment == "" and not stored.feedback_fields
        assert not [e for e in h.store.events("t") if e.interaction_id == "c1"]

    run(body)
