"""Queue gates, on both implementations: an interaction behind a gate goes only to agents
that serve it, each after its own delay; a freed agent serves its lowest-ranked gate first;
gates never change a score, and a core without them decides as it always did."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pytest

from cim_router._core_common import (
    ELIGIBLE,
    EXCLUDED,
    MAX_GATE_ID,
    MAX_GATES,
    NOT_IN_QUEUE,
    QUEUE_DELAY,
    SKILL_MISSING,
    TIER,
)
from cim_router._core_py import Core
from cim_router.domain import Policy
from cim_router.routing.engine import joint_assignment

if TYPE_CHECKING:
    from tests.conftest import MakeCore
from tests.core_rules import add_agent, add_interaction, random_instance

SALES, BILLING, SUPPORT = 0, 1, 2
ENQ = 100.0


# --- eligibility -----------------------------------------------------------------------------


def test_an_agent_without_the_gate_is_not_in_queue(make_core: MakeCore) -> None:
    core = make_core()
    add_agent(core, "none")
    add_agent(core, "other", gates=[(SALES, 1, 0.0)])
    add_agent(core, "serves", gates=[(SALES, 2, 0.0), (BILLING, 1, 0.0)])
    add_interaction(core, "i", gate=BILLING, enqueued_at=ENQ)
    add_interaction(core, "open", enqueued_at=ENQ)
    assert core.eligibility("i", "none", ENQ) == NOT_IN_QUEUE
    assert core.eligibility("i", "other", ENQ) == NOT_IN_QUEUE
    assert core.eligibility("i", "serves", ENQ) == ELIGIBLE
    assert core.best_agent("i", ENQ) == "serves"
    # No gate: every agent may take it, whatever gates they serve.
    assert [core.eligibility("open", a, ENQ) for a in ("none", "other", "serves")] == [0, 0, 0]


def test_a_delay_holds_the_work_back_until_it_has_passed(make_core: MakeCore) -> None:
    core = make_core()
    add_agent(core, "late", gates=[(SALES, 1, 30.0)])
    add_interaction(core, "i", gate=SALES, enqueued_at=ENQ)
    for now in (ENQ, ENQ + 29.0, math.nextafter(ENQ + 30.0, 0.0)):
        assert core.eligibility("i", "late", now) == QUEUE_DELAY
        assert core.best_agent("i", now) is None
        assert core.best_interaction("late", now) is None
        assert core.pair_value("i", "late", now) == 0.0
    assert core.eligibility("i", "late", ENQ + 30.0) == ELIGIBLE
    assert core.best_agent("i", ENQ + 30.0) == "late"
    assert core.best_interaction("late", ENQ + 30.0) == "i"


def test_each_agent_waits_its_own_delay(make_core: MakeCore) -> None:
    core = make_core()
    add_agent(core, "first", gates=[(SALES, 1, 0.0)], idle_since=50.0)
    add_agent(core, "backup", gates=[(SALES, 3, 20.0)], idle_since=0.0)  # idle longer
    add_interaction(core, "i", gate=SALES, enqueued_at=ENQ)
    assert core.eligibility("i", "first", ENQ) == ELIGIBLE
    assert core.eligibility("i", "backup", ENQ + 10.0) == QUEUE_DELAY
    core.set_agent_state("first", 2, 0.0)  # busy elsewhere
    assert core.best_agent("i", ENQ + 10.0) is None
    assert core.best_agent("i", ENQ + 20.0) == "backup"


def test_gates_are_checked_after_skills_and_tier_and_before_exclusion(
    make_core: MakeCore,
) -> None:
    core = make_core(Policy(escalation_min_tier=(1, 3)))
    add_agent(core, "unskilled", skills=[(5, 5)])
    add_agent(core, "low", tier=1)
    add_agent(core, "left", gates=[(SALES, 1, 10.0)])
    add_agent(core, "ok", gates=[(SALES, 1, 10.0)])
    add_interaction(core, "i", gate=SALES, escalation=1, enqueued_at=ENQ, excluded=["left"])
    add_interaction(core, "e", gate=SALES, enqueued_at=ENQ, excluded=["unskilled", "left"])
    assert core.eligibility("e", "unskilled", ENQ) == SKILL_MISSING
    assert core.eligibility("i", "low", ENQ) == TIER
    assert core.eligibility("e", "low", ENQ) == NOT_IN_QUEUE
    assert core.eligibility("e", "left", ENQ) == QUEUE_DELAY
    assert core.eligibility("e", "left", ENQ + 10.0) == EXCLUDED
    assert core.eligibility("e", "ok", ENQ + 10.0) == ELIGIBLE


def test_gates_never_enter_the_score(make_core: MakeCore) -> None:
    core = make_core()
    add_agent(core, "a", skills=[(0, 7), (1, 3)], tier=3, idle_since=20.0)
    add_agent(core, "g", skills=[(0, 7), (1, 3)], tier=3, idle_since=20.0, gates=[(SALES, 9, 5.0)])
    for iid, gate in (("plain", -1), ("gated", SALES)):
        add_interaction(core, iid, [(0, 2)], preferred=[(1, 1)], gate=gate, enqueued_at=ENQ)
    now = ENQ + 5.0
    reference = core.score_terms("plain", "a", now)
    assert core.score_terms("plain", "g", now) == reference
    assert core.score_terms("gated", "g", now) == reference
    assert core.score_terms("gated", "a", now) == reference  # even where not eligible
    assert core.pair_value("gated", "g", now) == core.pair_value("plain", "a", now) > 1.0
    assert core.pair_value("gated", "a", now) == 0.0


# --- a freed agent ---------------------------------------------------------------------------


def test_a_freed_agent_serves_its_lowest_rank_first_over_urgency(make_core: MakeCore) -> None:
    core = make_core()
    add_agent(core, "a", gates=[(SALES, 1, 0.0), (BILLING, 2, 0.0)])
    add_agent(core, "b", gates=[(SALES, 2, 0.0), (BILLING, 1, 0.0)])
    add_interaction(core, "sale", gate=SALES, priority=0.0, enqueued_at=ENQ)
    add_interaction(core, "bill", gate=BILLING, priority=100.0, enqueued_at=ENQ - 50.0)
    assert core.urgency("bill", ENQ) > core.urgency("sale", ENQ)
    assert core.queue_order(ENQ) == ["bill", "sale"]  # the queue's own order is unchanged
    assert core.best_interaction("a", ENQ) == "sale"
    assert core.best_interaction("b", ENQ) == "bill"


def test_work_without_a_gate_ranks_before_any_gate(make_core: MakeCore) -> None:
    core = make_core()
    add_agent(core, "a", gates=[(SALES, 1, 0.0)])
    add_interaction(core, "sale", gate=SALES, priority=100.0, enqueued_at=ENQ)
    add_interaction(core, "open", priority=0.0, enqueued_at=ENQ)
    assert core.best_interaction("a", ENQ) == "open"
    core.remove_interaction("open")
    assert core.best_interaction("a", ENQ) == "sale"


def test_within_a_rank_the_service_order_decides(make_core: MakeCore) -> None:
    core = make_core()
    add_agent(core, "a", gates=[(SALES, 1, 0.0), (BILLING, 1, 0.0), (SUPPORT, 2, 0.0)])
    add_interaction(core, "s", gate=SALES, priority=10.0, enqueued_at=ENQ)
    add_interaction(core, "b", gate=BILLING, priority=20.0, enqueued_at=ENQ)
    add_interaction(core, "b-later", gate=BILLING, priority=20.0, enqueued_at=ENQ + 1.0)
    add_interaction(core, "x", gate=SUPPORT, priority=90.0, enqueued_at=ENQ)
    now = ENQ + 1.0
    assert core.best_interaction("a", now) == "b"
    core.reserve("b", "a")
    assert core.best_interaction("a", now) == "b-later"


def test_a_rank_waiting_out_its_delay_lets_the_next_rank_through(make_core: MakeCore) -> None:
    core = make_core()
    add_agent(core, "a", gates=[(SALES, 1, 60.0), (BILLING, 2, 0.0)])
    add_interaction(core, "sale", gate=SALES, enqueued_at=ENQ)
    add_interaction(core, "bill", gate=BILLING, enqueued_at=ENQ)
    add_interaction(core, "excluded-sale", gate=SALES, enqueued_at=0.0, excluded=["a"])
    assert core.best_interaction("a", ENQ + 59.0) == "bill"
    assert core.best_interaction("a", ENQ + 60.0) == "sale"


# --- next_gate_due ---------------------------------------------------------------------------


def test_next_gate_due_is_the_next_delay_to_run_out(make_core: MakeCore) -> None:
    core = make_core()
    assert core.next_gate_due(ENQ) is None
    add_agent(core, "now", gates=[(SALES, 1, 0.0)])
    add_agent(core, "soon", gates=[(SALES, 2, 15.0), (BILLING, 1, 40.0)])
    add_agent(core, "later", gates=[(SALES, 3, 45.0)])
    add_agent(core, "same", gates=[(SALES, 3, 45.0)])
    assert core.next_gate_due(ENQ) is None  # nothing waits behind a gate
    add_interaction(core, "i", gate=SALES, enqueued_at=ENQ)
    add_interaction(core, "open", enqueued_at=ENQ)
    assert core.next_gate_due(ENQ - 1.0) == ENQ  # the zero delay, still ahead
    assert core.next_gate_due(ENQ) == ENQ + 15.0
    assert core.next_gate_due(ENQ + 15.0) == ENQ + 45.0
    add_interaction(core, "j", gate=BILLING, enqueued_at=ENQ + 10.0)
    assert core.next_gate_due(ENQ + 15.0) == ENQ + 45.0
    core.remove_agent("later")
    assert core.next_gate_due(ENQ + 15.0) == ENQ + 45.0  # "same" still waits 45 s
    core.upsert_agent("same", 1, [(0, 5)], [1, 1, 3, 3, 3, 5], 1, [0] * 6, 0.0)
    assert core.next_gate_due(ENQ + 15.0) == ENQ + 50.0  # j, for "soon"'s 40 s on billing
    core.remove_interaction("j")
    assert core.next_gate_due(ENQ + 15.0) is None


# --- updates and limits ----------------------------------------------------------------------


def test_an_upsert_replaces_the_gates(make_core: MakeCore) -> None:
    core = make_core()
    add_agent(core, "a", gates=[(SALES, 1, 0.0)])
    add_interaction(core, "i", gate=SALES, enqueued_at=ENQ)
    assert core.eligibility("i", "a", ENQ) == ELIGIBLE
    add_agent(core, "a", gates=[(SALES, 1, 10.0)])
    assert core.eligibility("i", "a", ENQ) == QUEUE_DELAY
    add_agent(core, "a", gates=[(BILLING, 1, 0.0)])
    assert core.eligibility("i", "a", ENQ + 10.0) == NOT_IN_QUEUE
    add_agent(core, "a")
    assert core.eligibility("i", "a", ENQ + 10.0) == NOT_IN_QUEUE
    assert core.next_gate_due(ENQ) is None


def test_gates_on_many_agents_and_interactions(make_core: MakeCore) -> None:
    """Past the first 64 slots of agents and interactions, and many gate ids."""
    core = make_core()
    for k in range(150):
        add_agent(core, f"a{k:03d}", gates=[(k % 40, 1 + k % 3, float(k % 4))])
    for k in range(150):
        add_interaction(core, f"i{k:03d}", gate=(k * 7) % 40, enqueued_at=ENQ)
    for k in range(0, 150, 13):
        iid = f"i{k:03d}"
        best = core.best_agent(iid, ENQ + 3.0)
        assert best is not None and int(best[1:]) % 40 == (k * 7) % 40
    assert core.best_interaction("a139", ENQ + 2.0) is None  # delay 3 s
    found = core.best_interaction("a139", ENQ + 3.0)
    assert found is not None and (int(found[1:]) * 7) % 40 == 139 % 40
    assert core.next_gate_due(ENQ) == ENQ + 1.0


@pytest.mark.parametrize(
    "gates",
    [
        [(0, 0, 0.0)],
        [(0, 256, 0.0)],
        [(0, 1, -1.0)],
        [(0, 1, math.inf)],
        [(0, 1, math.nan)],
        [(0, 1, 0.0), (0, 2, 0.0)],
        [(-1, 1, 0.0)],
        [(MAX_GATE_ID + 1, 1, 0.0)],
        [(g, 1, 0.0) for g in range(MAX_GATES + 1)],
    ],
)
def test_bad_gates_are_refused(make_core: MakeCore, gates: list[tuple[int, int, float]]) -> None:
    core = make_core()
    with pytest.raises(ValueError):
        add_agent(core, "a", gates=gates)
    assert not core.has_agent("a")


def test_the_most_gates_an_agent_may_have(make_core: MakeCore) -> None:
    core = make_core()
    add_agent(core, "a", gates=[(g, 1 + g % 255, 0.0) for g in range(MAX_GATES)])
    add_interaction(core, "i", gate=MAX_GATES - 1)
    assert core.best_agent("i", 0.0) == "a"


@pytest.mark.parametrize("gate", [-2, MAX_GATE_ID + 1])
def test_a_bad_interaction_gate_is_refused(make_core: MakeCore, gate: int) -> None:
    core = make_core()
    with pytest.raises(ValueError):
        add_interaction(core, "i", gate=gate)
    assert not core.is_waiting("i")


# --- without gates, nothing changes ----------------------------------------------------------


class _WithGates:
    """Passes every call through, giving each upserted agent a few gates."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def upsert_agent(
        self,
        agent_id: str,
        tier: int,
        skills: Sequence[tuple[int, int]],
        capacity: Sequence[int],
        state: int,
        load: Sequence[int],
        idle_since: float,
    ) -> None:
        gates = [(SALES, 1, 0.0), (BILLING, 2, 30.0)]
        self.core.upsert_agent(agent_id, tier, skills, capacity, state, load, idle_since, gates)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.core, name)


@pytest.mark.parametrize("seed", range(3))
def test_gated_agents_decide_as_before_for_ungated_work(make_core: MakeCore, seed: int) -> None:
    now = 10_000.0
    plain, gated = make_core(), make_core()
    random_instance(plain, random.Random(seed), n_agents=90, n_interactions=80, n_skills=6, now=now)
    random_instance(
        cast(Core, _WithGates(gated)),
        random.Random(seed),
        n_agents=90,
        n_interactions=80,
        n_skills=6,
        now=now,
    )
    agents, waiting = sorted(plain.agent_ids()), plain.queue_order(now)
    assert gated.queue_order(now) == waiting
    assert gated.next_gate_due(now) is None
    for iid in waiting:
        assert gated.best_agent(iid, now) == plain.best_agent(iid, now)
    for aid in agents:
        assert gated.best_interaction(aid, now) == plain.best_interaction(aid, now)
    assert np.array_equal(
        gated.score_matrix(waiting, agents, now), plain.score_matrix(waiting, agents, now)
    )
    assert joint_assignment(gated, now) == joint_assignment(plain, now)
