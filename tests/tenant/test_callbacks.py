"""Callbacks, scheduled and outbound work on one tenant (in-memory store, manual clock): a
callback keeps its place in line and is offered in order, is retried after a failed
attempt and completes after the last; `not_before` holds work back until its time;
outbound work is never an abandon; a restart keeps it all."""

from __future__ import annotations

import pytest

from cim_router.domain.agent import AgentState
from cim_router.domain.channel import Channel
from cim_router.domain.interaction import Interaction, InteractionState
from cim_router.domain.policy import Policy
from cim_router.tenant import callbacks, interactions, reports
from cim_router.tenant.errors import FailedPrecondition, InvalidArgument
from cim_router.tenant.records import EventType, InteractionRecord
from cim_router.tenant.tallies import bucket_of
from tests.tenant.harness import Harness, run

POLICY = Policy(callback_attempts=2, callback_retry_seconds=600.0)


async def enqueue(
    h: Harness,
    iid: str,
    channel: Channel = Channel.VOICE,
    terms: callbacks.Terms = callbacks.NOW,
) -> InteractionRecord:
    i = Interaction(iid, channel)
    rec, _, _, _ = await h.call(lambda r: interactions.enqueue(r, i, iid.encode(), None, terms))
    return rec


async def callback(h: Harness, iid: str, attempts: int = 0) -> InteractionRecord:
    return await h.call(
        lambda r: callbacks.request_callback(r, iid, "+33 1 23 45 67 89", attempts, 0.0)
    )


def test_a_callback_keeps_its_place_and_is_offered_in_order() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        for n in range(3):
            await enqueue(h, f"v{n}")
            await h.advance(1)
        rec = await callback(h, "v0")
        assert rec.callback is not None and rec.outbound
        assert rec.interaction.state == InteractionState.QUEUED
        assert rec.interaction.enqueued_at == h.get("v0").interaction.enqueued_at
        await h.agent("ann")
        offered = h.get("v0")
        assert offered.offer is not None and offered.offer.agent_id == "ann"
        assert h.get("v1").offer is None

    run(body)


def test_a_failed_attempt_is_retried_after_the_delay_then_completed_after_the_last() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await enqueue(h, "v0")
        await callback(h, "v0")
        await h.agent("ann")
        await h.accept("v0", "ann")
        await h.call(lambda r: interactions.complete(r, "v0", "ann", "no_answer", 0))
        rec = h.get("v0")
        assert rec.interaction.state == InteractionState.QUEUED
        assert rec.not_before == pytest.approx(h.clock() + 600)
        assert rec.callback is not None and [a.outcome for a in rec.callback.attempts] == [
            "no_answer"
        ]
        assert h.load("ann") == {}  # released at once
        await enqueue(h, "later")  # arrives meanwhile, is taken by ann
        await h.accept("later", "ann")
        await h.agent("bob")
        await h.advance(599)
        assert h.get("v0").offer is None  # still held
        await h.advance(1)
        again = h.get("v0")
        assert again.offer is not None and again.offer.agent_id == "bob"
        await h.accept("v0", "bob")
        await h.call(lambda r: interactions.complete(r, "v0", "bob", "no_answer", 0))
        done = h.get("v0")
        assert done.interaction.state in (InteractionState.WRAP_UP, InteractionState.COMPLETED)
        assert done.disposition == "no_answer"
        assert done.callback is not None and len(done.callback.attempts) == 2
        _, events = await reports.get_interaction(h.router(), "v0")
        kinds = [e.type for e in events]
        assert kinds.count(EventType.CALLBACK_ATTEMPTED) == 2
        assert EventType.RELEASED in kinds

    run(body)


def test_a_reached_callback_completes_and_records_the_attempt() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await enqueue(h, "v0")
        await callback(h, "v0")
        await h.agent("ann")
        await h.accept("v0", "ann")
        await h.call(lambda r: interactions.complete(r, "v0", "ann", "resolved", 0))
        rec = h.get("v0")
        assert rec.callback is not None
        assert [a.outcome for a in rec.callback.attempts] == ["resolved"]
        assert rec.interaction.state != InteractionState.QUEUED

    run(body)


def test_request_callback_refuses_what_cannot_be_one() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await enqueue(h, "chat", Channel.CHAT)
        with pytest.raises(InvalidArgument, match="VOICE and VIDEO"):
            await callback(h, "chat")
        await enqueue(h, "v0")
        await callback(h, "v0")
        with pytest.raises(FailedPrecondition, match="callback already"):
            await callback(h, "v0")
        await h.cancel("v0")
        await h.cancel("chat")
        await h.agent("ann")
        await enqueue(h, "v1")
        await h.accept("v1", "ann")
        with pytest.raises(FailedPrecondition, match="only waiting work"):
            await callback(h, "v1")

    run(body)


def test_not_before_holds_work_until_its_time() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await h.agent("ann")
        at = h.clock() + 3600
        rec = await enqueue(h, "follow-up", Channel.EMAIL, callbacks.Terms(True, at))
        assert rec.not_before == at and rec.interaction.enqueued_at == at
        assert h.get("follow-up").offer is None
        stats = await reports.stats(h.router())
        assert stats["waiting"] == 0 and stats["held"] == 1
        await h.advance(3599)
        assert h.get("follow-up").offer is None
        await h.advance(1)
        offered = h.get("follow-up")
        assert offered.offer is not None and offered.not_before == 0
        day = h.router().tallies.buckets[bucket_of(at)]
        t = day[("default", Channel.EMAIL)]
        assert (t.offered, t.outbound) == (1, 0)  # offered when its time came
        assert (
            h.router().tallies.buckets[bucket_of(at - 3600)][("default", Channel.EMAIL)].outbound
            == 1
        )

    run(body)


def test_outbound_work_and_callbacks_are_never_abandons() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await enqueue(h, "out", Channel.VOICE, callbacks.Terms(outbound=True))
        await enqueue(h, "cb")
        await callback(h, "cb")
        await enqueue(h, "in")
        await h.advance(30)
        for iid in ("out", "cb", "in"):
            await h.cancel(iid)
        total = sum(
            t.abandoned for bucket in h.router().tallies.buckets.values() for t in bucket.values()
        )
        assert total == 1

    run(body)


def test_a_restart_keeps_callbacks_and_held_work() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await enqueue(h, "v0")
        await callback(h, "v0")
        await enqueue(h, "later", Channel.EMAIL, callbacks.Terms(False, h.clock() + 100))
        again = await h.restart()
        kept = again.get("v0")
        assert kept.callback is not None and kept.callback.address == "+33 1 23 45 67 89"
        assert kept.outbound
        assert again.get("later").not_before > 0
        await again.agent("ann", capacity={Channel.VOICE: 1, Channel.EMAIL: 1})
        assert again.get("v0").offer is not None
        assert again.get("later").offer is None
        await again.advance(100)
        assert again.get("later").offer is not None
        await again.set_state("ann", AgentState.NOT_READY)

    run(body)


def test_forgetting_the_customer_erases_the_callback_address() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        i = Interaction("v0", Channel.VOICE, customer_id="cust-1")
        await h.call(lambda r: interactions.enqueue(r, i, b"v0"))
        await callback(h, "v0")
        await h.forget("cust-1")
        kept = h.get("v0").callback
        assert kept is not None and kept.address == ""
        assert kept.max_attempts == 2  # the callback itself stays

    run(body)


def test_held_work_is_in_no_waiting_count() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await enqueue(h, "later", Channel.EMAIL, callbacks.Terms(False, h.clock() + 600))
        await enqueue(h, "now", Channel.EMAIL)
        stats = await reports.stats(h.router())
        assert (stats["waiting"], stats["held"]) == (1, 1)
        rows = [m for m in stats["measures"] if m.window == "15m" and m.channel is None]
        assert all(m.waiting == 1 for m in rows), rows

    run(body)
