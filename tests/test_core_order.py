"""Bounded aging and the service order, and greedy decisions as an argmax over every agent
and every waiting interaction, on both implementations."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import pytest

from cim_router._core_common import (
    ELIGIBLE,
    STATE_AVAILABLE,
)
from cim_router.domain import (
    Channel,
    Policy,
)

if TYPE_CHECKING:
    from tests.conftest import MakeCore
from tests.core_rules import (
    EMAIL,
    ENQ,
    NOT_READY,
    VOICE,
    add_agent,
    add_interaction,
    expected_best_agent,
    expected_best_interaction,
    expected_urgency,
    random_instance,
)

# --- aging and service order -----------------------------------------------------------------


@pytest.mark.parametrize("policy", [Policy(), Policy(aging_rate=5.0, aging_cap=3.0)])
def test_urgency_formula(make_core: MakeCore, policy: Policy) -> None:
    core = make_core(policy)
    add_interaction(core, "i", priority=10.0, sla=60.0, enqueued_at=ENQ)
    for waited in (0.0, 1.0, 30.0, 60.0, 119.0, 120.0, 121.0, 3600.0, 1e9):
        assert core.urgency("i", ENQ + waited) == pytest.approx(
            expected_urgency(policy, 10.0, 60.0, waited)
        )
    # Not enqueued yet: no aging, and no negative aging either.
    assert core.urgency("i", ENQ - 50.0) == 10.0
    # Bounded by the cap, reached and kept (until the wait bound: chat's is 1800 s).
    assert core.urgency("i", ENQ + 1500.0) == pytest.approx(10.0 + policy.aging_cap)
    assert core.urgency("i", ENQ + 1e12) == 1e9 + 1e12
    waits = [0.0, 5.0, 50.0, 500.0, 5000.0]
    values = [core.urgency("i", ENQ + w) for w in waits]
    assert values == sorted(values)


def test_urgency_is_relative_to_sla(make_core: MakeCore) -> None:
    policy = Policy()
    core = make_core(policy)
    add_interaction(core, "voice", channel=VOICE, sla=20.0, enqueued_at=0.0)
    add_interaction(core, "email", channel=EMAIL, sla=3600.0, enqueued_at=0.0)
    for now in (10.0, 100.0):
        voice = expected_urgency(policy, 0, 20, now, VOICE)
        assert core.urgency("voice", now) == pytest.approx(voice)
        email = expected_urgency(policy, 0, 3600, now, EMAIL)
        assert core.urgency("email", now) == pytest.approx(email)
    assert core.queue_order(10.0) == ["voice", "email"]


NO_BOUND = {c: 0.0 for c in Channel}


# With an SLA of 64 s the aging per second (20 / 64) is exact in binary, so equal urgencies
# are really equal.
@pytest.mark.parametrize("low_waited", [0.0, 16.0, 31.0, 31.9, 32.0, 32.1, 33.0, 48.0, 600.0])
def test_aging_overtakes_priority_exactly_when_it_makes_up_the_gap(
    make_core: MakeCore, low_waited: float
) -> None:
    policy = Policy()
    gap, sla, now = 10.0, 64.0, 1000.0
    core = make_core(policy)
    add_agent(core, "a")
    add_interaction(core, "high", priority=gap, enqueued_at=now, sla=sla)
    add_interaction(core, "low", priority=0.0, enqueued_at=now - low_waited, sla=sla)
    u_low = expected_urgency(policy, 0.0, sla, low_waited)
    u_high = expected_urgency(policy, gap, sla, 0.0)
    assert core.urgency("low", now) == pytest.approx(u_low)
    assert core.urgency("high", now) == pytest.approx(u_high)
    # At equal urgency the one enqueued earlier goes first.
    low_first = u_low > u_high or (u_low == u_high and low_waited > 0.0)
    expected = ["low", "high"] if low_first else ["high", "low"]
    assert core.queue_order(now) == expected
    assert core.best_interaction("a", now) == expected[0]


def test_bounded_aging_never_overtakes_a_larger_gap(make_core: MakeCore) -> None:
    policy = Policy(aging_cap=5.0, wait_bound_seconds=NO_BOUND)
    core = make_core(policy)
    add_agent(core, "a")
    add_interaction(core, "low", priority=0.0, enqueued_at=0.0)
    add_interaction(core, "high", priority=6.0, enqueued_at=1e6)
    assert core.queue_order(1e6) == ["high", "low"]
    assert core.best_interaction("a", 1e6) == "high"
    # ...but the cap is reached: a gap smaller than it is made up.
    add_interaction(core, "mid", priority=4.0, enqueued_at=1e6)
    assert core.queue_order(1e6) == ["high", "low", "mid"]


@pytest.mark.parametrize("lead", [0.0, 30.0])
def test_past_its_wait_bound_an_interaction_outranks_any_priority(
    make_core: MakeCore, lead: float
) -> None:
    bound = {c: 300.0 if c == Channel.CHAT else 0.0 for c in Channel}
    policy = Policy(aging_cap=5.0, wait_bound_seconds=bound, wait_bound_lead_seconds=lead)
    core = make_core(policy)
    add_agent(core, "a")
    add_interaction(core, "low", priority=0.0, enqueued_at=0.0)
    add_interaction(core, "older-low", priority=0.0, enqueued_at=-10.0)
    add_interaction(core, "high", priority=1000.0, enqueued_at=100.0)
    add_interaction(core, "voice", channel=VOICE, priority=0.0, enqueued_at=-1e6)
    at = 300.0 - lead
    # Just before: priority first, and the voice call (no bound on voice) never passes it.
    assert core.queue_order(at - 20.0) == ["high", "voice", "older-low", "low"]
    assert core.best_interaction("a", at - 20.0) == "high"
    # From the bound's start: the older first, then the other, ahead of any priority.
    assert core.queue_order(at - 10.0) == ["older-low", "high", "voice", "low"]
    assert core.queue_order(at) == ["older-low", "low", "high", "voice"]
    assert core.best_interaction("a", at) == "older-low"
    assert core.urgency("low", at) == 1e9 + at
    assert core.urgency_terms("low", at) == (0.0, 0.0, 0.0, at)
    assert core.urgency_terms("high", at)[3] == -1.0
    core.remove_interaction("older-low")
    assert core.best_interaction("a", at) == "low"  # not pruned by the gap to "high"
    assert core.queue_position("low", at) == 1


def test_customer_tier_and_escalation_bonuses(make_core: MakeCore) -> None:
    policy = Policy()
    core = make_core(policy)
    now = 50.0
    cases = {
        "standard": (policy.customer_tier("standard").bonus, 0),
        "gold": (policy.customer_tier("gold").bonus, 0),
        "vip": (policy.customer_tier("vip").bonus, 0),
        "escalated": (0.0, 1),
        "twice": (0.0, 2),
    }
    for iid, (bonus, escalation) in cases.items():
        add_interaction(
            core, iid, priority=5.0, tier_bonus=bonus, escalation=escalation, enqueued_at=40.0
        )
    for iid, (bonus, escalation) in cases.items():
        base = 5.0 + bonus + policy.escalation_bonus * escalation
        assert core.urgency(iid, now) == pytest.approx(expected_urgency(policy, base, 60.0, 10.0))
    assert core.urgency("gold", now) > core.urgency("standard", now)
    assert core.urgency("vip", now) > core.urgency("gold", now)
    assert core.urgency("escalated", now) > core.urgency("standard", now)
    expected = sorted(cases, key=lambda iid: -core.urgency(iid, now))
    assert core.queue_order(now) == expected
    assert expected[0] in {"twice", "vip"}


# --- greedy decisions are argmaxes over everything -------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_best_agent_is_the_argmax_over_all_agents(make_core: MakeCore, seed: int) -> None:
    rng = random.Random(seed)
    core = make_core()
    now = 10_000.0
    inst = random_instance(core, rng, n_agents=300, n_interactions=60, n_skills=30, now=now)
    found = tied = 0
    for later in (0.0, 35.0, 100.0):
        for iid in inst.enqueued_at:
            expected, n_best = expected_best_agent(core, inst, iid, now + later)
            got = core.best_agent(iid, now + later)
            assert got == expected, (iid, later)
            if got is not None:
                found += 1
                tied += n_best > 1
                assert core.eligibility(iid, got, now + later) == ELIGIBLE
    # The instances are meant to exercise both decisions and tie-breaks.
    assert found > 30
    assert tied > 0


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_best_interaction_is_the_argmax_over_all_waiting(make_core: MakeCore, seed: int) -> None:
    rng = random.Random(seed)
    core = make_core()
    now = 10_000.0
    inst = random_instance(core, rng, n_agents=80, n_interactions=200, n_skills=12, now=now)
    found = 0
    for later in (0.0, 20.0, 45.0, 100.0):  # `now` never goes back on one core
        for aid in inst.idle_since:
            expected = expected_best_interaction(core, inst, aid, now + later)
            got = core.best_interaction(aid, now + later)
            assert got == expected, (aid, later)
            if got is not None:
                found += 1
                assert core.eligibility(got, aid, now + later) == ELIGIBLE
        order = sorted(
            (iid for iid in inst.enqueued_at if core.is_waiting(iid)),
            key=lambda iid: (
                -core.urgency(iid, now + later),
                inst.enqueued_at[iid],
                list(inst.enqueued_at).index(iid),
            ),
        )
        assert core.queue_order(now + later) == order
        # Serve some: the next decisions must not see them.
        for iid in rng.sample(sorted(iid for iid in inst.enqueued_at if core.is_waiting(iid)), 20):
            assert core.remove_interaction(iid)
    assert found > 50


def test_best_agent_tie_break_longest_idle_then_lowest_id(make_core: MakeCore) -> None:
    core = make_core()
    now = 10_000.0  # every idle term is at its cap, so the scores tie
    for aid, idle in [("d", 200.0), ("c", 50.0), ("b", 100.0), ("a", 50.0), ("e", 10.0)]:
        add_agent(core, aid, skills=((0, 5),), idle_since=idle)
    add_interaction(core, "i")
    core.set_agent_state("e", NOT_READY, 10.0)
    scores = {core.score_terms("i", aid, now)[-1] for aid in "abcd"}
    assert len(scores) == 1
    assert core.best_agent("i", now) == "a"
    core.remove_agent("a")
    assert core.best_agent("i", now) == "c"
    core.exclude_agent("i", "c")
    assert core.best_agent("i", now) == "b"
    core.set_agent_state("e", STATE_AVAILABLE, 10.0)
    assert core.best_agent("i", now) == "e"


def test_best_agent_score_beats_idle_and_id(make_core: MakeCore) -> None:
    core = make_core()
    now = 10_000.0
    add_agent(core, "a", skills=((0, 5),), idle_since=0.0)
    add_agent(core, "z", skills=((0, 6),), idle_since=9_000.0)
    add_interaction(core, "i")
    assert core.score_terms("i", "z", now)[-1] > core.score_terms("i", "a", now)[-1]
    assert core.best_agent("i", now) == "z"


def test_best_interaction_tie_breaks(make_core: MakeCore) -> None:
    core = make_core(Policy(aging_rate=0.0))  # urgency is the base alone
    add_agent(core, "a")
    add_interaction(core, "x", priority=5.0, enqueued_at=20.0)
    add_interaction(core, "z", priority=5.0, enqueued_at=10.0)
    add_interaction(core, "y", priority=5.0, enqueued_at=10.0)
    add_interaction(core, "low", priority=4.0, enqueued_at=0.0)
    now = 100.0
    assert core.queue_order(now) == ["z", "y", "x", "low"]  # earliest first, then first added
    assert core.best_interaction("a", now) == "z"
    # Adding again (same id) makes it a new arrival, behind its equal.
    add_interaction(core, "z", priority=5.0, enqueued_at=10.0)
    assert core.queue_order(now) == ["y", "z", "x", "low"]
    assert core.best_interaction("a", now) == "y"
    core.remove_interaction("y")
    assert core.best_interaction("a", now) == "z"
    core.exclude_agent("z", "a")
    assert core.best_interaction("a", now) == "x"
    core.remove_interaction("x")
    assert core.best_interaction("a", now) == "low"


def test_on_time_first_serves_work_within_its_target_before_work_past_it(
    make_core: MakeCore,
) -> None:
    policy = Policy(on_time_first=True, wait_bound_seconds=NO_BOUND)
    core = make_core(policy)
    add_agent(core, "a")
    add_interaction(core, "late", sla=60.0, enqueued_at=0.0)
    add_interaction(core, "later", sla=60.0, enqueued_at=-30.0)
    add_interaction(core, "on-time", sla=60.0, enqueued_at=50.0)
    add_interaction(core, "vip-late", priority=20.0, sla=60.0, enqueued_at=0.0)
    add_interaction(core, "gold-late", priority=10.0, sla=60.0, enqueued_at=0.0)
    now = 100.0
    # Of one priority, within target first; past it, the longest past it first. Late work
    # drops aging_cap + service_level_weight + 1 points (11): a priority 20 points higher
    # is still first, one 10 points higher falls behind work still within target.
    assert core.queue_order(now) == ["vip-late", "on-time", "gold-late", "later", "late"]
    core.remove_interaction("gold-late")
    assert core.best_interaction("a", now) == "vip-late"
    core.remove_interaction("vip-late")
    assert core.best_interaction("a", now) == "on-time"
    cap, boost = policy.aging_cap, policy.service_level_weight
    assert core.urgency("late", now) == pytest.approx(-(cap + boost + 1.0) + 40.0 / 100.0)
    assert core.urgency_terms("late", now)[1] < 0.0
    # Off (the default): the longest waiting first.
    plain = make_core(Policy(wait_bound_seconds=NO_BOUND))
    add_agent(plain, "a")
    add_interaction(plain, "late", sla=60.0, enqueued_at=0.0)
    add_interaction(plain, "on-time", sla=60.0, enqueued_at=50.0)
    assert plain.best_interaction("a", now) == "late"
