"""An agent's `idle_since`, path by path: what each change of readiness or load sets it to,
in the agent record, in the store and in the routing index alike (docs/service.md, "Idle
time")."""

from __future__ import annotations

from cim_router.domain.agent import AgentState
from cim_router.domain.channel import Channel
from cim_router.domain.interaction import Interaction, InteractionState
from cim_router.domain.policy import Policy
from cim_router.tenant import callbacks, interactions, transfers
from cim_router.tenant.records import TransferMode
from tests.tenant.harness import TENANT, Harness, run

NO_WRAP = dict.fromkeys(Channel, 0.0)
POLICY = Policy(relaxation=(), wrap_up_seconds=NO_WRAP, offer_timeout_seconds=15.0)
WRAPPING = Policy(relaxation=(), wrap_up_seconds=dict.fromkeys(Channel, 30.0))


def idle(h: Harness, agent_id: str) -> tuple[float, float, float]:
    """(record, store, index): the three must always agree."""
    record = h.agent_record(agent_id).agent.idle_since
    stored = h.store.data(TENANT).agents[agent_id].agent.idle_since
    indexed = h.router().engine.core.agent_idle_since(agent_id)
    return record, stored, indexed


def at(t: float) -> tuple[float, float, float]:
    return (t, t, t)


def test_registration_starts_idle_time_and_an_unchanged_re_registration_keeps_it() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        t0 = h.clock()
        await h.agent("ann")
        assert idle(h, "ann") == at(t0)
        await h.advance(50)
        await h.agent("ann")  # the same profile, AVAILABLE again
        assert idle(h, "ann") == at(t0)
        await h.agent("ann", {"billing": 5}, state=None)  # a profile change, no state
        assert idle(h, "ann") == at(t0)

    run(body)


def test_available_from_not_ready_or_offline_starts_idle_time_again() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await h.agent("ann")
        await h.advance(10)
        await h.set_state("ann", AgentState.NOT_READY, "break")
        await h.advance(20)
        t1 = h.clock()
        await h.set_state("ann", AgentState.AVAILABLE)
        assert idle(h, "ann") == at(t1)
        await h.advance(5)
        await h.set_state("ann", AgentState.AVAILABLE)  # already AVAILABLE: unchanged
        assert idle(h, "ann") == at(t1)
        await h.set_state("ann", AgentState.OFFLINE)
        await h.advance(30)
        t2 = h.clock()
        await h.set_state("ann", AgentState.AVAILABLE)
        assert idle(h, "ann") == at(t2)

    run(body)


def test_acceptance_and_complete_without_wrap_up() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await h.agent("ann")
        t0 = h.clock()
        await h.enqueue("c1", Channel.VOICE)
        assert idle(h, "ann") == at(t0)  # an offer alone changes nothing
        await h.advance(3)
        await h.accept("c1", "ann")
        assert idle(h, "ann") == at(t0 + 3)  # it took work
        await h.advance(100)
        await h.complete("c1", "ann")
        assert idle(h, "ann") == at(t0 + 103)  # free again now

    run(body)


def test_end_of_wrap_up_by_its_timer_or_by_a_second_complete() -> None:
    async def body() -> None:
        h = await Harness(WRAPPING).start()
        await h.agent("ann")
        await h.enqueue("c1", Channel.VOICE)
        await h.accept("c1", "ann")
        await h.advance(60)
        await h.complete("c1", "ann")
        done = h.clock()
        assert h.agent_record("ann").agent.state == AgentState.WRAP_UP
        await h.advance(29)
        assert h.agent_record("ann").agent.state == AgentState.WRAP_UP
        await h.advance(5)
        assert h.agent_record("ann").agent.state == AgentState.AVAILABLE
        assert idle(h, "ann") == at(done + 30)  # the wrap-up's end, not a later moment
        await h.enqueue("c2", Channel.VOICE)
        await h.accept("c2", "ann")
        await h.complete("c2", "ann")
        await h.advance(10)
        early = h.clock()
        await h.complete("c2", "ann")  # ends the wrap-up early
        assert h.agent_record("ann").agent.state == AgentState.AVAILABLE
        assert idle(h, "ann") == at(early)

    run(body)


def test_a_reject_or_a_missed_offer_halves_the_idle_time_earned() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        t0 = h.clock()
        await h.agent("ann")
        await h.advance(120)
        await h.agent("bo")
        await h.advance(80)  # ann idle 200 s, bo 80 s
        await h.enqueue("c1", Channel.VOICE)
        assert h.get("c1").offer.agent_id == "ann"  # type: ignore[union-attr]
        await h.reject("c1", "ann")
        # 200 s earned, 100 s kept: still ahead of bo (idle since t0 + 120), not last.
        assert idle(h, "ann") == at(t0 + 100)
        assert h.get("c1").offer.agent_id == "bo"  # type: ignore[union-attr]
        assert idle(h, "bo") == at(t0 + 120)  # offered, not answered yet: unchanged
        await h.accept("c1", "bo")
        await h.enqueue("c2", Channel.VOICE)
        assert h.get("c2").offer.agent_id == "ann"  # type: ignore[union-attr]
        await h.advance(15)  # missed: 115 s earned, half kept
        assert h.get("c2").offer is None
        assert idle(h, "ann") == at(t0 + 100 + 57.5)
        assert h.agent_record("ann").missed_offers == 1

    run(body)


def test_cancel_keeps_an_offered_agent_idle_and_frees_a_holder_now() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        t0 = h.clock()
        await h.agent("ann")
        await h.enqueue("c1", Channel.VOICE)
        await h.advance(5)
        await h.cancel("c1")  # the customer left during the offer: not ann's doing
        assert idle(h, "ann") == at(t0)
        await h.enqueue("c2", Channel.VOICE)
        await h.accept("c2", "ann")
        await h.advance(40)
        await h.cancel("c2")
        assert idle(h, "ann") == at(t0 + 45)

    run(body)


def test_a_transfer_away_frees_the_holder_when_it_lets_go() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await h.agent("ann", {"billing": 5})
        await h.agent("bo", {"sales": 5})
        await h.agent("cy", {"care": 5})
        await h.enqueue("c1", Channel.VOICE, required={"billing": 1})
        await h.accept("c1", "ann")
        await h.advance(30)
        cold = h.clock()
        await h.transfer("c1", TransferMode.COLD, required={"sales": 1})
        assert idle(h, "ann") == at(cold)
        await h.advance(2)
        await h.accept("c1", "bo")
        await h.advance(10)
        await h.transfer("c1", TransferMode.WARM, required={"care": 1})
        assert h.get("c1").offer.agent_id == "cy"  # type: ignore[union-attr]
        assert idle(h, "bo") == at(cold + 2)  # still holds it while the transfer is pending
        await h.advance(4)
        await h.accept("c1", "cy")
        assert idle(h, "bo") == at(cold + 16)  # released when cy accepted
        assert idle(h, "cy") == at(cold + 16)

    run(body)


def test_a_cancelled_warm_transfer_leaves_the_target_idle_as_it_was() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        t0 = h.clock()
        await h.agent("ann", {"billing": 5})
        await h.agent("bo", {"sales": 5})
        await h.enqueue("c1", Channel.VOICE, required={"billing": 1})
        await h.accept("c1", "ann")
        await h.transfer("c1", TransferMode.WARM, required={"sales": 1})
        assert h.get("c1").offer.agent_id == "bo"  # type: ignore[union-attr]
        await h.advance(3)
        await h.call(lambda r: transfers.cancel_transfer(r, "c1", "", ""))
        assert h.get("c1").offer is None
        assert idle(h, "bo") == at(t0)

    run(body)


def test_hold_and_resume_leave_it_alone() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        t0 = h.clock()
        await h.agent("ann")
        await h.enqueue("c1", Channel.VOICE)
        await h.accept("c1", "ann")
        await h.advance(10)
        await h.hold("c1", "ann")
        await h.advance(20)
        await h.resume("c1", "ann")
        assert idle(h, "ann") == at(t0)

    run(body)


def test_a_failed_callback_attempt_frees_the_agent_at_once() -> None:
    async def body() -> None:
        h = await Harness(Policy(relaxation=(), callback_attempts=2)).start()
        i = Interaction("v0", Channel.VOICE)
        await h.call(lambda r: interactions.enqueue(r, i, b"v0", None, callbacks.NOW))
        await h.call(lambda r: callbacks.request_callback(r, "v0", "+33 1 23 45 67 89", 0, 0.0))
        await h.agent("ann")
        await h.accept("v0", "ann")
        await h.advance(25)
        t1 = h.clock()
        await h.call(lambda r: interactions.complete(r, "v0", "ann", "no_answer", 0))
        assert h.get("v0").interaction.state == InteractionState.QUEUED  # held for a retry
        assert h.agent_record("ann").agent.state == AgentState.AVAILABLE  # no wrap-up
        assert idle(h, "ann") == at(t1)

    run(body)


def test_a_multi_seat_agent_moves_back_in_line_each_time_it_takes_or_ends_work() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        t0 = h.clock()
        two = {Channel.CHAT: 2}
        await h.agent("ann", capacity=two)
        await h.advance(10)
        await h.agent("bo", capacity=two)
        await h.advance(10)
        await h.enqueue("c1", Channel.CHAT)
        assert h.get("c1").offer.agent_id == "ann"  # type: ignore[union-attr]
        await h.accept("c1", "ann")
        assert idle(h, "ann") == at(t0 + 20)
        # ann has a seat left, but bo has waited longer since it last took work.
        await h.enqueue("c2", Channel.CHAT)
        assert h.get("c2").offer.agent_id == "bo"  # type: ignore[union-attr]
        await h.advance(1)
        await h.accept("c2", "bo")
        await h.advance(4)
        await h.enqueue("c3", Channel.CHAT)
        assert h.get("c3").offer.agent_id == "ann"  # type: ignore[union-attr]
        await h.accept("c3", "ann")
        await h.advance(30)
        await h.complete("c1", "ann")  # one seat back, one chat still held
        assert h.load("ann") == {Channel.CHAT: 1}
        assert idle(h, "ann") == at(t0 + 55)

    run(body)


def test_a_restart_indexes_the_stored_idle_time() -> None:
    async def body() -> None:
        h = await Harness(WRAPPING).start()
        t0 = h.clock()
        await h.agent("ann")
        await h.agent("bo")
        await h.enqueue("c1", Channel.VOICE)
        await h.accept("c1", "ann")
        await h.advance(50)
        await h.complete("c1", "ann")  # wrap-up until t0 + 80
        h.clock.set(t0 + 200)  # the router is down meanwhile: no timer fires
        again = await h.restart()
        assert again.clock() == t0 + 201
        assert idle(again, "bo") == at(t0)  # as stored, not the restart's time
        # ann's wrap-up ended while the router was down: free since it ended.
        assert again.agent_record("ann").agent.state == AgentState.AVAILABLE
        assert idle(again, "ann") == at(t0 + 80)

    run(body)


def test_a_restart_withdraws_an_offer_without_touching_idle_time() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        t0 = h.clock()
        await h.agent("ann")
        await h.advance(5)
        await h.enqueue("c1", Channel.VOICE)
        again = await h.restart()
        # The offer in flight went back to the queue and was offered again to ann.
        assert again.get("c1").offer.agent_id == "ann"  # type: ignore[union-attr]
        assert idle(again, "ann") == at(t0)

    run(body)
