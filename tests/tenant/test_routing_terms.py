"""The routing terms as the tenant feeds them (in-memory store, manual clock): arrivals
counted once in the demand scarcity reads, each queue's target and its answers and abandons
in the queue boost, the wait bound over priorities, joint matching on a burst."""

from __future__ import annotations

import dataclasses

import pytest

from cim_router.domain.agent import AgentState
from cim_router.domain.channel import Channel
from cim_router.domain.interaction import InteractionState
from cim_router.domain.policy import Policy, policy_from_mapping
from cim_router.tenant.records import TransferMode
from tests.tenant.harness import Harness, run


@pytest.mark.parametrize(("weight", "expected"), [(1.0, "specialist"), (0.0, "expert")])
def test_an_arrival_goes_to_the_specialist_while_the_experts_other_skill_is_needed(
    weight: float, expected: str
) -> None:
    async def body() -> None:
        h = await Harness(policy_from_mapping({"weights": {"scarcity": weight}})).start()
        await h.agent("expert", {"billing": 5, "tech": 5})
        await h.agent("specialist", {"billing": 3})
        await h.agent("techie", {"tech": 8}, state=AgentState.NOT_READY)
        # Tech work that only the techie may take yet (until relaxation): tech is in demand.
        await h.enqueue("t1", Channel.VOICE, {"tech": 6})
        assert h.get("t1").offer is None
        await h.enqueue("b1", Channel.VOICE, {"billing": 1})
        offer = h.get("b1").offer
        # The expert scores higher on skill (5 against 3); keeping it for tech outweighs it.
        assert offer is not None and offer.agent_id == expected
        explained = h.get("b1").explanation
        assert explained is not None and explained.winner is not None
        assert explained.winner.terms["scarcity"] == 1.0  # the specialist's, or no demand
        if weight:
            engine = h.router().engine
            await h.enqueue("b2", Channel.VOICE, {"billing": 1})  # only the expert is free
            terms = h.get("b2").explanation.winner.terms  # type: ignore[union-attr]
            # Pressure on tech: t1 waiting, plus its arrival over the two agents holding
            # tech, over the one free to take work (the expert).
            assert terms["scarcity"] == pytest.approx(1 / (1 + (1 + 1 / 2) / 1), rel=1e-3)
            assert not engine.is_waiting("b2")

    run(body)


def test_the_queue_target_and_its_late_answers_and_abandons_reach_the_boost() -> None:
    async def body() -> None:
        policy = policy_from_mapping(
            {
                "service_level_weight": 30,
                "queues": {"vip": {"service_level": {"seconds": 10, "share": 0.9}}},
            }
        )
        h = await Harness(policy).start()
        await h.agent("a", {"billing": 1}, state=AgentState.NOT_READY)
        engine = h.router().engine
        for k in range(4):
            await h.enqueue(f"late{k}", Channel.VOICE, {"billing": 1}, queue_id="vip")
        await h.enqueue("left", Channel.VOICE, {"billing": 1}, queue_id="vip")
        gate = engine.queues.id("vip")
        assert engine.core.gate_boost(gate) == 0.0
        await h.advance(30.0)  # past the queue's 10 s target
        await h.cancel("left")  # an abandon past the target: a miss
        assert engine.core.gate_boost(gate) > 0.0
        missed = engine.core.gate_boost(gate)
        await h.set_state("a", AgentState.AVAILABLE)  # answers late0, 20 s late
        assert h.get("late0").offer is not None
        assert engine.core.gate_boost(gate) > missed
        explained = engine.explain("late1", h.clock())
        assert explained.parts.service_level_boost == engine.core.gate_boost(gate)
        assert explained.urgency > explained.parts.base + explained.parts.aging

    run(body)


def test_past_the_wait_bound_a_priority_0_call_is_served_before_any_priority() -> None:
    async def body() -> None:
        policy = dataclasses.replace(
            Policy(aging_cap=5.0),
            wait_bound_seconds={c: 120.0 for c in Channel},
            wait_bound_lead_seconds=20.0,
        )
        h = await Harness(policy).start()
        await h.agent("a", {"sales": 1})
        await h.enqueue("busy", Channel.VOICE, {"sales": 1})
        await h.accept("busy", "a")
        await h.enqueue("low", Channel.VOICE, {"sales": 1}, priority=0)
        await h.advance(99.0)
        await h.enqueue("high", Channel.VOICE, {"sales": 1}, priority=90)
        engine = h.router().engine
        assert not engine.explain("low", h.clock()).parts.wait_bound_reached
        await h.advance(1.0)  # low has waited 100 s: the bound (120) less the lead (20)
        assert engine.explain("low", h.clock()).parts.wait_bound_reached
        await h.complete("busy", "a")
        await h.advance(policy.wrap_up_seconds[Channel.VOICE] + 1.0)
        low = h.get("low")
        assert low.offer is not None and low.offer.agent_id == "a"
        assert h.get("high").interaction.state == InteractionState.QUEUED

    run(body)


def test_joint_matching_places_agents_freed_together() -> None:
    async def body() -> None:
        policy = dataclasses.replace(
            policy_from_mapping({"matching": "joint"}),
            wrap_up_seconds={c: 0.0 for c in Channel},
        )
        h = await Harness(policy).start()
        await h.agent("a-tech", {"tech": 5})
        await h.agent("b-both", {"billing": 5, "tech": 5})
        await h.enqueue("i0", Channel.VOICE, {"tech": 1})
        assert h.get("i0").offer.agent_id == "a-tech"  # type: ignore[union-attr]
        await h.accept("i0", "a-tech")
        await h.transfer("i0", TransferMode.WARM, agent_id="b-both")
        await h.enqueue("any", Channel.VOICE, {"tech": 1})  # nobody free: both wait
        await h.enqueue("bill", Channel.VOICE, {"billing": 1})
        # The customer hangs up: the holder and the offered agent are free at once. Greedy,
        # the first freed ("b-both") would take the older call and leave "bill" waiting.
        await h.cancel("i0")
        bill, other = h.get("bill").offer, h.get("any").offer
        assert bill is not None and bill.agent_id == "b-both"
        assert other is not None and other.agent_id == "a-tech"

    run(body)
