"""Relaxation over time, on both implementations: minimum levels drop by step, preferred
skills stop counting."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from cim_router._core_common import (
    ELIGIBLE,
    MAX_LEVEL,
    SKILL_LEVEL,
    SKILL_MISSING,
)
from cim_router.domain import (
    Policy,
    RelaxationStep,
)

if TYPE_CHECKING:
    from tests.conftest import MakeCore
from tests.core_rules import (
    ENQ,
    RELAXING,
    add_agent,
    add_interaction,
    expected_min_level,
    expected_step,
    expected_urgency,
)

# --- relaxation ------------------------------------------------------------------------------


def test_relaxation_step_values(make_core: MakeCore) -> None:
    core = make_core(RELAXING)
    add_interaction(core, "i", enqueued_at=ENQ)
    for waited, step in [(0, 0), (10, 0), (29.999, 0), (30, 1), (59.5, 1), (60, 2), (1e6, 2)]:
        assert core.relaxation_step("i", ENQ + waited) == step == expected_step(RELAXING, waited)


def test_relaxation_lowers_the_minimum_level_for_arrivals(make_core: MakeCore) -> None:
    core = make_core(RELAXING)
    add_agent(core, "a", skills=((0, 3),))
    add_interaction(core, "i", required=((0, 5),), enqueued_at=ENQ)
    for waited, eligible in [(10.0, False), (35.0, False), (65.0, True)]:
        assert (expected_min_level(RELAXING, 5, waited) <= 3) is eligible
        now = ENQ + waited
        assert core.eligibility("i", "a", now) == (ELIGIBLE if eligible else SKILL_LEVEL)
        assert core.best_agent("i", now) == ("a" if eligible else None)
    # best_agent is a pure function of `now`: going back is fine for arrivals.
    assert core.best_agent("i", ENQ + 35.0) is None


def test_relaxation_for_a_freed_agent(make_core: MakeCore) -> None:
    core = make_core(RELAXING)
    add_agent(core, "a", skills=((0, 3),))
    add_interaction(core, "i", required=((0, 5),), enqueued_at=ENQ)
    for waited, expected in [(10.0, None), (35.0, None), (65.0, "i")]:
        assert core.best_interaction("a", ENQ + waited) == expected


def test_relaxation_picks_what_has_relaxed_enough(make_core: MakeCore) -> None:
    core = make_core(RELAXING)
    add_agent(core, "a", skills=((0, 3),))
    add_interaction(core, "old", required=((0, 5),), enqueued_at=100.0)
    add_interaction(core, "new", required=((0, 4),), enqueued_at=120.0)
    levels = {"old": (5, 100.0), "new": (4, 120.0)}
    for now in (110.0, 125.0, 135.0, 149.0, 150.0, 159.0, 160.0, 200.0):
        ok = [
            iid
            for iid, (lv, enq) in levels.items()
            if expected_min_level(RELAXING, lv, now - enq) <= 3
        ]
        # "old" is more urgent whenever both qualify (it has waited longer).
        expected = "old" if "old" in ok else ("new" if ok else None)
        assert core.best_interaction("a", now) == expected, now
    assert core.best_interaction("a", 200.0) == "old"


def test_relaxation_while_time_advances_in_many_steps(make_core: MakeCore) -> None:
    policy = Policy(relaxation=tuple(RelaxationStep(10.0 * k, k) for k in range(1, 10)))
    core = make_core(policy)
    add_agent(core, "a", skills=((0, 1),))
    for k in range(10):
        add_interaction(core, f"i{k}", required=((0, 10),), enqueued_at=5.0 * k, priority=k)
    now = 0.0
    while now <= 200.0:
        ok = [k for k in range(10) if expected_min_level(policy, 10, now - 5.0 * k) <= 1]
        # The most urgent of those that qualify; at equal urgency the earlier (lower k).
        key = {k: (expected_urgency(policy, k, 60.0, now - 5.0 * k), -k) for k in ok}
        expected = f"i{max(ok, key=key.__getitem__)}" if ok else None
        assert core.best_interaction("a", now) == expected, now
        now += 2.5


def test_preferred_term_stops_counting_after_drop_preferred(make_core: MakeCore) -> None:
    core = make_core(RELAXING)
    add_agent(core, "a", skills=((0, 3), (1, 8), (2, 4)))
    add_interaction(core, "i", required=((0, 1),), preferred=((1, 1), (2, 1)), enqueued_at=ENQ)
    pref = (8 + 4) / (MAX_LEVEL * 2)
    assert core.score_terms("i", "a", ENQ + 10.0)[1] == pytest.approx(pref)
    assert core.score_terms("i", "a", ENQ + 35.0)[1] == pytest.approx(pref)
    assert core.score_terms("i", "a", ENQ + 65.0)[1] == 0.0
    # The total is the weighted sum of its terms.
    w = RELAXING.weights
    for now in (ENQ + 35.0, ENQ + 65.0):
        t = core.score_terms("i", "a", now)
        total = (
            w.skill * t[0]
            + w.preferred_skill * t[1]
            + w.tier * t[2]
            + w.idle * t[3]
            + w.handle_time * t[4]
            + w.sticky * t[5]
            + w.scarcity * t[6]
        )
        assert t[7] == pytest.approx(total)
    drop = core.score_terms("i", "a", ENQ + 35.0)[7] - core.score_terms("i", "a", ENQ + 65.0)[7]
    idle_gain = w.idle * 30.0 / RELAXING.idle_cap_seconds
    assert drop == pytest.approx(w.preferred_skill * pref - idle_gain)


def test_drop_preferred_is_cumulative(make_core: MakeCore) -> None:
    policy = Policy(
        relaxation=(
            RelaxationStep(30.0, 0, drop_preferred=True),
            RelaxationStep(60.0, 1, drop_preferred=False),
        )
    )
    core = make_core(policy)
    add_agent(core, "a", skills=((0, 3), (1, 8)))
    add_interaction(core, "i", required=((0, 1),), preferred=((1, 1),), enqueued_at=ENQ)
    assert core.score_terms("i", "a", ENQ + 10.0)[1] == pytest.approx(0.8)
    assert core.score_terms("i", "a", ENQ + 35.0)[1] == 0.0
    assert core.score_terms("i", "a", ENQ + 65.0)[1] == 0.0


def test_levels_never_drop_below_one(make_core: MakeCore) -> None:
    policy = Policy(relaxation=(RelaxationStep(30.0, 9),))
    core = make_core(policy)
    add_agent(core, "weak", skills=((0, 1),))
    add_agent(core, "without", skills=((1, 10),))
    add_interaction(core, "i", required=((0, 4),), enqueued_at=ENQ)
    assert core.eligibility("i", "weak", ENQ + 10.0) == SKILL_LEVEL
    now = ENQ + 31.0
    assert core.eligibility("i", "weak", now) == ELIGIBLE
    # Relaxation lowers levels; it never waives the skill itself.
    assert core.eligibility("i", "without", now) == SKILL_MISSING
    assert core.best_agent("i", now) == "weak"
    assert core.best_interaction("without", now) is None
    assert core.best_interaction("weak", now) == "i"


def test_interaction_added_after_its_steps_are_due(make_core: MakeCore) -> None:
    # Enqueued long ago (e.g. moved from another queue): relaxed as soon as it arrives.
    core = make_core(RELAXING)
    add_agent(core, "a", skills=((0, 3),))
    add_agent(core, "b", skills=((0, 3),))
    assert core.best_interaction("b", 500.0) is None
    add_interaction(core, "i", required=((0, 5),), enqueued_at=400.0)
    assert core.relaxation_step("i", 500.0) == 2
    assert core.best_interaction("a", 500.0) == "i"
    assert core.best_agent("i", 500.0) in {"a", "b"}
