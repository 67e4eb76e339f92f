"""The terms that read demand and service levels, on both cores: scarcity (keep versatile
agents for the work only they can do) and a queue's boost when it runs behind its target."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pytest

from cim_router._core_common import SERVICE_LEVEL_PRIOR
from cim_router.domain import Policy
from cim_router.domain.policy import Weights

if TYPE_CHECKING:
    from tests.conftest import MakeCore
from tests.core_rules import NOT_READY, add_agent, add_interaction

A, B, C = 0, 1, 2
H = 300.0  # the default scarcity horizon


def scarcity(core: object, iid: str, aid: str, now: float) -> float:
    return core.score_terms(iid, aid, now)[6]  # type: ignore[attr-defined, no-any-return]


def test_scarcity_is_one_for_a_specialist_and_falls_with_demand_on_other_skills(
    make_core: MakeCore,
) -> None:
    core = make_core(Policy())
    add_agent(core, "specialist", ((A, 3),))
    add_agent(core, "expert", ((A, 5), (B, 5), (C, 5)))
    add_interaction(core, "i", ((A, 1),), enqueued_at=0.0)
    assert scarcity(core, "i", "specialist", 0.0) == 1.0
    assert scarcity(core, "i", "expert", 0.0) == 1.0  # nothing needs B or C
    # One waiting on B, one agent holding B: pressure 1 on B.
    add_interaction(core, "j", ((B, 1),), enqueued_at=0.0)
    assert scarcity(core, "i", "expert", 0.0) == pytest.approx(1 / (1 + 1))
    # Its arrival is counted too: one more expected over the horizon, decaying with time.
    core.count_arrival("j", 0.0)
    assert scarcity(core, "i", "expert", 0.0) == pytest.approx(1 / (1 + 2))
    assert scarcity(core, "i", "expert", H) == pytest.approx(1 / (1 + 1 + math.exp(-1)))
    # Arrivals count per agent holding the skill, and the pressure is shared among the
    # holders free to take work: a second B agent, free, more than halves it.
    add_agent(core, "b-specialist", ((B, 2),))
    assert scarcity(core, "i", "expert", 0.0) == pytest.approx(1 / (1 + (1 + 1 / 2) / 2))
    # A skill the interaction requires is not an "other" skill.
    add_interaction(core, "k", ((A, 1),), enqueued_at=0.0)
    assert scarcity(core, "i", "expert", 0.0) == pytest.approx(1 / (1 + (1 + 1 / 2) / 2))
    # Work taken out of the queue is no longer waiting (the B agent has a chat seat left).
    core.reserve("j", "b-specialist")
    assert scarcity(core, "i", "expert", 0.0) == pytest.approx(1 / (1 + (1 / 2) / 2))
    # A B agent that is not free does not share the pressure.
    core.set_agent_state("b-specialist", NOT_READY, 0.0)
    assert scarcity(core, "i", "expert", 0.0) == pytest.approx(1 / (1 + 1 / 2))
    core.remove_agent("b-specialist")
    assert scarcity(core, "i", "expert", 0.0) == pytest.approx(1 / (1 + 1))


def test_an_arrival_goes_to_the_specialist_while_the_experts_other_skills_are_needed(
    make_core: MakeCore,
) -> None:
    for weight, expected in ((1.0, "specialist"), (0.0, "expert")):
        core = make_core(Policy(weights=Weights(scarcity=weight)))
        add_agent(core, "specialist", ((A, 3),), idle_since=0.0)
        add_agent(core, "expert", ((A, 5), (B, 5)), idle_since=0.0)
        add_interaction(core, "b-work", ((B, 4),), enqueued_at=0.0)
        add_interaction(core, "i", ((A, 1),), enqueued_at=10.0)
        # The expert scores higher on skill (5 vs 3); scarcity outweighs it.
        assert core.best_agent("i", 10.0) == expected
    # With no demand on B, the expert is the better agent again.
    core = make_core(Policy())
    add_agent(core, "specialist", ((A, 3),), idle_since=0.0)
    add_agent(core, "expert", ((A, 5), (B, 5)), idle_since=0.0)
    add_interaction(core, "i", ((A, 1),), enqueued_at=10.0)
    assert core.best_agent("i", 10.0) == "expert"


def test_a_new_interaction_counts_once_however_often_it_is_indexed(make_core: MakeCore) -> None:
    core = make_core(Policy())
    add_agent(core, "expert", ((A, 5), (B, 5)))
    add_interaction(core, "i", ((A, 1),), enqueued_at=0.0)
    add_interaction(core, "j", ((B, 1),), enqueued_at=0.0)
    before = scarcity(core, "i", "expert", 0.0)
    add_interaction(core, "j", ((B, 1),), enqueued_at=0.0)  # indexed again: no new demand
    assert scarcity(core, "i", "expert", 0.0) == before
    core.remove_interaction("j")
    assert scarcity(core, "i", "expert", 0.0) == 1.0


def boost(weight: float, share: float, hits: float, total: float) -> float:
    level = (hits + SERVICE_LEVEL_PRIOR * share) / (total + SERVICE_LEVEL_PRIOR)
    return 0.0 if level >= share else weight * (share - level) / share


def test_a_queue_behind_its_target_raises_its_works_urgency(make_core: MakeCore) -> None:
    policy = Policy(service_level_weight=30.0)
    core = make_core(policy)
    add_agent(core, "a", gates=((0, 1, 0.0), (1, 1, 0.0)))
    core.set_gate_target(0, 0.8)
    core.set_gate_target(1, 0.8)
    assert core.gate_boost(0) == 0.0  # no answers yet: the prior is at the target
    # Gate 0: ten answered late (SLA 60 s); gate 1: ten answered in time.
    for k in range(10):
        add_interaction(core, f"late{k}", gate=0, sla=60.0, enqueued_at=0.0)
        core.count_outcome(f"late{k}", 100.0, True)
        core.remove_interaction(f"late{k}")
        add_interaction(core, f"fast{k}", gate=1, sla=60.0, enqueued_at=90.0)
        core.count_outcome(f"fast{k}", 100.0, True)
        core.remove_interaction(f"fast{k}")
    assert core.gate_boost(0) == pytest.approx(boost(30.0, 0.8, 0.0, 10.0))
    assert core.gate_boost(1) == 0.0
    # A freed agent takes gate 0's work although gate 1's has waited longer.
    add_interaction(core, "behind", gate=0, sla=60.0, enqueued_at=100.0)
    add_interaction(core, "ahead", gate=1, sla=60.0, enqueued_at=95.0)
    assert core.best_interaction("a", 101.0) == "behind"
    assert core.queue_order(101.0) == ["behind", "ahead"]
    base, aging, extra, past = core.urgency_terms("behind", 101.0)
    assert (base, extra, past) == (0.0, core.gate_boost(0), -1.0)
    assert core.urgency("behind", 101.0) == pytest.approx(aging + extra)
    # No target, no boost.
    core.set_gate_target(0, 0.0)
    assert core.gate_boost(0) == 0.0
    assert core.best_interaction("a", 101.0) == "ahead"


def test_abandons_count_as_misses_only_past_the_target_and_counts_decay(
    make_core: MakeCore,
) -> None:
    policy = Policy(service_level_weight=20.0, service_level_horizon_seconds=600.0)
    core = make_core(policy)
    core.set_gate_target(0, 0.9)
    add_interaction(core, "quick", gate=0, sla=20.0, enqueued_at=0.0)
    core.count_outcome("quick", 10.0, False)  # left within target: nothing
    assert core.gate_boost(0) == 0.0
    add_interaction(core, "gone", gate=0, sla=20.0, enqueued_at=0.0)
    core.count_outcome("gone", 30.0, False)  # left past it: a miss
    assert core.gate_boost(0) == pytest.approx(boost(20.0, 0.9, 0.0, 1.0))
    add_interaction(core, "ok", gate=0, sla=20.0, enqueued_at=620.0)
    core.count_outcome("ok", 630.0, True)  # 600 s later: the miss weighs e^-1
    assert core.gate_boost(0) == pytest.approx(boost(20.0, 0.9, 1.0, 1.0 + math.exp(-1)))
    with pytest.raises(ValueError):
        core.set_gate_target(-1, 0.8)
    with pytest.raises(ValueError):
        core.set_gate_target(0, 1.5)
