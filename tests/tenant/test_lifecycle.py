"""The tenant's lifecycle on simulated time: offers and their expiry, re-offers, missed
offers, wrap-up, relaxation, exclusions, transfers, escalation, restart recovery."""

from __future__ import annotations

import asyncio

from cim_router.domain.agent import AgentState
from cim_router.domain.channel import Channel
from cim_router.domain.interaction import InteractionState
from cim_router.domain.policy import Policy, RelaxationStep
from cim_router.tenant.records import EventType, TransferMode
from cim_router.tenant.watch import NoticeType
from tests.tenant.harness import Harness, run

WRAP = {c: 30.0 for c in Channel}
POLICY = Policy(offer_timeout_seconds=15.0, wrap_up_seconds=WRAP, relaxation=())


def kinds(h: Harness, interaction_id: str) -> list[EventType]:
    return [e.type for e in h.store.events("t") if e.interaction_id == interaction_id]


def test_an_arrival_is_offered_to_its_best_agent_and_expires_unanswered() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await h.agent("ann", {"billing": 8})
        await h.agent("bo", {"billing": 4})
        watcher = h.watch("ann")
        rec = await h.enqueue("c1", required={"billing": 3})
        assert rec.offer is not None and rec.offer.agent_id == "ann"
        assert [n.type for n in h.drain(watcher)] == [NoticeType.OFFERED]
        await h.advance(14.9)
        assert h.get("c1").offer is not None  # not yet
        await h.advance(0.2)
        # Expired: ann is excluded and missed one; bo is offered at once.
        assert h.get("c1").offer.agent_id == "bo"  # type: ignore[union-attr]
        assert h.agent_record("ann").missed_offers == 1
        assert "ann" in h.get("c1").interaction.excluded_agents
        assert [n.type for n in h.drain(watcher)] == [NoticeType.OFFER_ENDED]

    run(body)


def test_missed_offers_in_a_row_put_the_agent_not_ready() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await h.agent("ann")
        await h.enqueue("c1")
        await h.advance(15.0)
        await h.enqueue("c2")
        assert h.get("c2").offer.agent_id == "ann"  # type: ignore[union-attr]
        await h.advance(15.0)
        ann = h.agent_record("ann").agent
        assert ann.state == AgentState.NOT_READY and "missed 2" in ann.not_ready_reason
        assert h.load("ann") == {}

    run(body)


def test_wrap_up_ends_by_itself_and_the_waiting_work_is_offered() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await h.agent("ann", capacity={Channel.CHAT: 1})
        await h.enqueue("c1")
        await h.accept("c1", "ann")
        await h.enqueue("c2")
        assert h.get("c2").offer is None  # ann is full
        await h.complete("c1")
        assert h.agent_record("ann").agent.state == AgentState.WRAP_UP
        assert h.get("c1").interaction.state == InteractionState.WRAP_UP
        await h.advance(29.0)
        assert h.get("c2").offer is None
        await h.advance(1.0)
        assert h.get("c1").interaction.state == InteractionState.COMPLETED
        assert h.agent_record("ann").agent.state == AgentState.AVAILABLE
        assert h.get("c2").offer.agent_id == "ann"  # type: ignore[union-attr]

    run(body)


def test_relaxation_lowers_the_level_on_time_and_routes_at_that_moment() -> None:
    async def body() -> None:
        policy = Policy(relaxation=(RelaxationStep(30.0, 2), RelaxationStep(90.0, 4)))
        h = await Harness(policy).start()
        await h.agent("junior", {"billing": 4})
        await h.enqueue("c1", required={"billing": 7})
        for n in range(29):  # unrelated arrivals every second do not hold it back
            await h.advance(1.0)
            await h.enqueue(f"x{n}", required={"legal": 9})
        assert h.get("c1").offer is None
        await h.advance(1.0)  # 30 s: 7 - 2 = 5, still above 4
        assert h.get("c1").offer is None
        await h.advance(60.0)  # 90 s: 7 - 4 = 3
        assert h.get("c1").offer.agent_id == "junior"  # type: ignore[union-attr]

    run(body)


def test_a_rejected_interaction_goes_to_the_next_agent_and_comes_back_after_the_lapse() -> None:
    async def body() -> None:
        h = await Harness(Policy(exclusion_seconds=60.0, relaxation=())).start()
        await h.agent("ann")
        await h.enqueue("c1")
        await h.reject("c1", "ann")
        assert (
            h.get("c1").offer is None and h.get("c1").interaction.state == InteractionState.QUEUED
        )
        await h.advance(59.0)
        assert h.get("c1").offer is None
        await h.advance(1.0)
        assert h.get("c1").offer.agent_id == "ann"  # type: ignore[union-attr]
        assert EventType.EXCLUSION_LAPSED in kinds(h, "c1")

    run(body)


def test_warm_transfer_to_a_skill_waits_then_the_target_takes_over() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await h.agent("ann", {"sales": 5})
        await h.enqueue("c1")
        await h.accept("c1", "ann")
        await h.transfer("c1", TransferMode.WARM, required={"legal": 5})
        assert h.get("c1").agent_id == "ann" and h.get("c1").offer is None
        await h.agent("lee", {"legal": 6})
        assert h.get("c1").offer.agent_id == "lee"  # type: ignore[union-attr]
        assert h.load("ann") == {Channel.CHAT: 1} and h.load("lee") == {Channel.CHAT: 1}
        done = await h.accept("c1", "lee")
        assert done.agent_id == "lee" and done.transfer is None
        assert h.load("ann") == {}

    run(body)


def test_cold_transfer_to_another_channel_keeps_the_interaction() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await h.agent("ann")
        await h.enqueue("c1", context={"order": "A-1"})
        await h.accept("c1", "ann")
        moved = await h.transfer("c1", TransferMode.COLD, channel=Channel.VOICE)
        assert moved.interaction.channel == Channel.VOICE and moved.agent_id == ""
        assert h.load("ann") == {}
        await h.agent("vic")
        call = h.get("c1")
        assert call.offer is not None and call.offer.agent_id == "vic"
        assert call.interaction.context == {"order": "A-1"}
        assert EventType.CHANNEL_CHANGED in kinds(h, "c1")

    run(body)


def test_escalation_of_an_assigned_interaction_goes_to_a_supervisor() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await h.agent("ann", tier=1)
        await h.agent("sue", tier=5, state=AgentState.NOT_READY)
        await h.enqueue("c1")
        await h.accept("c1", "ann")
        await h.escalate("c1")
        assert h.get("c1").offer is None  # tier 3 needed at level 1; only sue has it
        await h.set_state("sue", AgentState.AVAILABLE)
        assert h.get("c1").offer.agent_id == "sue"  # type: ignore[union-attr]

    run(body)


def test_a_restart_withdraws_offers_in_flight_and_recounts_loads() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await h.agent("ann")
        await h.enqueue("c1")
        await h.accept("c1", "ann")
        await h.enqueue("c2")
        assert h.get("c2").offer is not None
        again = await h.restart()
        # The offer went back to the queue and was offered again from the queue.
        c2 = again.get("c2")
        assert c2.offer is not None and c2.offer.offered_at > h.get("c2").offer.offered_at  # type: ignore[union-attr]
        assert again.load("ann") == {Channel.CHAT: 2}
        assert again.get("c1").interaction.state == InteractionState.ASSIGNED
        assert EventType.OFFER_WITHDRAWN in kinds(again, "c2")

    run(body)


def test_an_agent_stays_in_wrap_up_while_any_of_its_interactions_is() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await h.agent("ann")
        for iid in ("c1", "c2"):
            await h.enqueue(iid)
            await h.accept(iid, "ann")
        await h.complete("c1")
        await h.advance(10.0)
        await h.complete("c2")  # wrap-up of c2 ends 10 s after c1's
        await h.complete("c2")  # ... but is ended early
        assert h.get("c2").interaction.state == InteractionState.COMPLETED
        assert h.agent_record("ann").agent.state == AgentState.WRAP_UP  # c1 still wraps
        await h.advance(20.0)
        assert h.get("c1").interaction.state == InteractionState.COMPLETED
        assert h.agent_record("ann").agent.state == AgentState.AVAILABLE

    run(body)


def test_a_returning_customer_is_linked_to_their_latest_interaction() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await h.agent("ann")
        await h.enqueue("c1", customer_id="cust")
        await h.accept("c1", "ann")
        # Two enqueues of the same customer at once: both read the store before either
        # wrote; the second must still link to the first, not to c1.
        router = h.router()
        from cim_router.domain.interaction import Interaction
        from cim_router.tenant import interactions

        first = Interaction("c2", Channel.EMAIL, customer_id="cust")
        second = Interaction("c3", Channel.SMS, customer_id="cust")
        await asyncio.gather(
            interactions.enqueue(router, first, b"2"), interactions.enqueue(router, second, b"3")
        )
        linked = {h.get("c2").linked_interaction_id, h.get("c3").linked_interaction_id}
        assert linked == {"c1", "c2"} or linked == {"c1", "c3"}
        assert router.customers["cust"].last_interaction_id in ("c2", "c3")

    run(body)
