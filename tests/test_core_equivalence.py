"""The compiled core and its pure-Python twin make the same decisions.

A generated sequence of updates is applied to both; after every step each query must give
identical answers (floats included, bit for bit). Joint assignment may pick a different
one of several optimal matchings, so there the totals must agree.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cim_router import _core_py
from cim_router._core_common import ELIGIBLE, STATE_AVAILABLE
from cim_router.domain import Channel, Policy, RelaxationStep
from cim_router.domain.policy import Weights
from cim_router.routing.engine import joint_assignment

if TYPE_CHECKING:
    from tests.conftest import CoreType
from tests.core_steps import (
    INTERACTIONS,
    N_GATES,
    Step,
    gated_scenarios,
    random_call,
    scenarios,
)

Core = _core_py.Core
SRC = Path(__file__).resolve().parent.parent / "src"

POLICIES = [
    Policy(),
    Policy(
        relaxation=(
            RelaxationStep(10.0, 1),
            RelaxationStep(20.0, 2, drop_preferred=True),
            RelaxationStep(40.0, 4),
            RelaxationStep(80.0, 9),
        ),
        exclusive_channels=frozenset(),
        aging_rate=50.0,
        aging_cap=5.0,
        escalation_min_tier=(1, 2, 4),
        joint_batch_limit=3,
    ),
    Policy(
        relaxation=(),
        escalation_min_tier=(),
        exclusive_channels=frozenset({Channel.CHAT}),
        weights=Weights(idle=0.0, handle_time=0.0, tier=0.0),  # many equal scores
        aging_rate=0.0,
    ),
    Policy(
        relaxation=(RelaxationStep(0.0, 1), RelaxationStep(15.0, 3, drop_preferred=True)),
        escalation_min_tier=(2, 2, 5),
        exclusive_channels=frozenset({Channel.VOICE, Channel.EMAIL}),
        escalation_bonus=0.0,
        aging_cap=1000.0,
    ),
    # The newer terms strongly weighted, with bounds reached within a scenario's minutes.
    Policy(
        weights=Weights(scarcity=3.0, idle=0.1),
        scarcity_horizon_seconds=60.0,
        service_level_weight=50.0,
        service_level_horizon_seconds=120.0,
        wait_bound_seconds={c: 40.0 * (1 + int(c) % 3) for c in Channel},
        wait_bound_lead_seconds=15.0,
        on_time_first=True,
    ),
]


def apply(core: Core, step: Step) -> str:
    """Make the call; the outcome is "ok" or the exception's type name."""
    if step.method == "advance":
        return "ok"
    try:
        getattr(core, step.method)(*step.args)
    except (KeyError, ValueError) as exc:
        return type(exc).__name__
    return "ok"


def assert_same(compiled: Core, python: Core, now: float) -> None:
    assert compiled.agent_count() == python.agent_count()
    assert compiled.waiting_count() == python.waiting_count()
    agents = sorted(python.agent_ids())
    assert sorted(compiled.agent_ids()) == agents
    for aid in agents:
        assert compiled.agent_idle_since(aid) == python.agent_idle_since(aid)
    waiting = [iid for iid in INTERACTIONS if python.is_waiting(iid)]
    assert [iid for iid in INTERACTIONS if compiled.is_waiting(iid)] == waiting
    assert compiled.queue_order(now) == python.queue_order(now)
    assert compiled.next_relaxation_due(now) == python.next_relaxation_due(now)
    assert compiled.next_gate_due(now) == python.next_gate_due(now)
    assert compiled.agents_with_room() == python.agents_with_room()
    for gate in range(N_GATES + 1):
        assert compiled.gate_boost(gate) == python.gate_boost(gate)
    for iid in waiting:
        assert compiled.queue_position(iid, now) == python.queue_position(iid, now)
        assert compiled.urgency(iid, now) == python.urgency(iid, now)
        assert compiled.urgency_terms(iid, now) == python.urgency_terms(iid, now)
        assert compiled.relaxation_step(iid, now) == python.relaxation_step(iid, now)
        assert compiled.best_agent(iid, now) == python.best_agent(iid, now)
        counts, ranked = python.rank_candidates(iid, now)
        assert compiled.rank_candidates(iid, now) == (counts, ranked)
        assert (ranked[0] if ranked else None) == python.best_agent(iid, now)  # Explain's winner
        assert sum(counts) == len(agents) and counts[ELIGIBLE] >= len(ranked)
        for aid in agents:
            assert compiled.eligibility(iid, aid, now) == python.eligibility(iid, aid, now)
            assert compiled.score_terms(iid, aid, now) == python.score_terms(iid, aid, now)
            assert compiled.pair_value(iid, aid, now) == python.pair_value(iid, aid, now)
    for aid in agents:
        assert compiled.best_interaction(aid, now) == python.best_interaction(aid, now)
    assert np.array_equal(
        compiled.score_matrix(waiting, agents, now), python.score_matrix(waiting, agents, now)
    )
    assert compiled.joint_candidates(now) == python.joint_candidates(now)
    totals = []
    for core in (compiled, python):
        pairs = joint_assignment(core, now)
        assert all(core.eligibility(i, a, now) == ELIGIBLE for i, a in pairs)
        totals.append(sum(core.pair_value(i, a, now) for i, a in pairs))
    assert totals[0] == pytest.approx(totals[1], rel=1e-12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy_index=st.integers(0, len(POLICIES) - 1), steps=scenarios())
def test_same_decisions(
    core_classes: dict[str, CoreType], policy_index: int, steps: list[Step]
) -> None:
    policy = POLICIES[policy_index]
    compiled = core_classes["compiled"](policy)
    python = core_classes["python"](policy)
    for step in steps:
        assert apply(compiled, step) == apply(python, step), step
        assert_same(compiled, python, step.now)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy_index=st.sampled_from([0, len(POLICIES) - 1]), steps=gated_scenarios())
def test_same_decisions_behind_gates(
    core_classes: dict[str, CoreType], policy_index: int, steps: list[Step]
) -> None:
    compiled = core_classes["compiled"](POLICIES[policy_index])
    python = core_classes["python"](POLICIES[policy_index])
    for step in steps:
        assert apply(compiled, step) == apply(python, step), step
        assert_same(compiled, python, step.now)


@pytest.mark.parametrize(("seed", "size"), [(7, 150), (8, 200), (9, 150)])
def test_same_decisions_on_a_busy_centre(
    core_classes: dict[str, CoreType], seed: int, size: int
) -> None:
    """Longer runs than the property test: well past 64 and 128 slots, time moving on."""
    rng = random.Random(seed)
    policy = POLICIES[seed % len(POLICIES)]
    compiled, python = (core_classes[name](policy) for name in ("compiled", "python"))
    agents = [f"a{k:03d}" for k in range(size)]
    interactions = [f"i{k:03d}" for k in range(size)]
    now = 1_000.0
    for _round in range(6):
        now += rng.choice([0.0, 5.0, 10.0, 25.0, 60.0])
        for _ in range(150):
            call = random_call(rng, rng.choice(agents), rng.choice(interactions), agents, now)
            step = Step(now, *call)
            assert apply(compiled, step) == apply(python, step), step
        assert compiled.queue_order(now) == python.queue_order(now)
        assert compiled.next_gate_due(now) == python.next_gate_due(now)
        for iid in interactions:
            if python.is_waiting(iid):
                assert compiled.best_agent(iid, now) == python.best_agent(iid, now)
                ranking = python.rank_candidates(iid, now)
                assert compiled.rank_candidates(iid, now) == ranking
        for aid in agents:
            if python.has_agent(aid):
                assert compiled.best_interaction(aid, now) == python.best_interaction(aid, now)
        totals = [
            sum(core.pair_value(i, a, now) for i, a in joint_assignment(core, now))
            for core in (compiled, python)
        ]
        assert totals[0] == pytest.approx(totals[1], rel=1e-12)


def test_best_interaction_before_time_zero(core_classes: dict[str, CoreType]) -> None:
    policy = Policy(relaxation=(RelaxationStep(30.0, 1), RelaxationStep(60.0, 2)))
    results = []
    for name in ("compiled", "python"):
        core = core_classes[name](policy)
        core.upsert_agent("a", 1, [(0, 3)], [1, 1, 3, 3, 3, 5], STATE_AVAILABLE, [0] * 6, -200.0)
        # Needs level 5; the agent's 3 only qualifies after 60 s of waiting (at -40).
        core.add_interaction("i", int(Channel.CHAT), [(0, 5)], [], 0.0, 0.0, 1, 0, 60.0, -100.0)
        assert core.eligibility("i", "a", -90.0) != ELIGIBLE
        results.append(core.best_interaction("a", -90.0))
    assert results == [None, None]


@pytest.mark.parametrize("state", [257, -255])
def test_out_of_range_agent_state(core_classes: dict[str, CoreType], state: int) -> None:
    """Both implementations reject a state outside AgentState instead of guessing."""
    outcomes = []
    for name in ("compiled", "python"):
        core = core_classes[name](Policy())
        try:
            core.upsert_agent("a", 1, [(0, 3)], [1, 1, 3, 3, 3, 5], state, [0] * 6, 0.0)
        except ValueError:
            outcomes.append("rejected")
            continue
        core.add_interaction("i", int(Channel.CHAT), [(0, 1)], [], 0.0, 0.0, 1, 0, 60.0, 0.0)
        outcomes.append(str(core.best_agent("i", 1.0)))
    assert outcomes == ["rejected", "rejected"]


def test_best_interaction_with_negative_urgency(core_classes: dict[str, CoreType]) -> None:
    results = []
    for name in ("compiled", "python"):
        core = core_classes[name](Policy())
        core.upsert_agent("a", 1, [(0, 3)], [1, 1, 3, 3, 3, 5], STATE_AVAILABLE, [0] * 6, 0.0)
        core.add_interaction("i", int(Channel.CHAT), [(0, 1)], [], -50.0, 0.0, 1, 0, 60.0, 0.0)
        assert core.eligibility("i", "a", 1.0) == ELIGIBLE
        results.append(core.best_interaction("a", 1.0))
    assert results == ["i", "i"]


# --- which implementation is in use ------------------------------------------------------


def test_compiled_really_loaded(core_classes: dict[str, CoreType]) -> None:
    import cim_router._core as compiled

    assert compiled.__file__ is not None
    assert compiled.__file__.endswith((".so", ".pyd"))
    assert compiled.IMPLEMENTATION == "compiled"
    assert _core_py.IMPLEMENTATION == "python"
    in_use: object = core_classes["compiled"]
    assert in_use is compiled.Core


def _implementation_in_subprocess(no_extensions: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "CIM_ROUTER_NO_EXTENSIONS"}
    if no_extensions is not None:
        env["CIM_ROUTER_NO_EXTENSIONS"] = no_extensions
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, "-c", "import cim_router.core as c; print(c.IMPLEMENTATION)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout.strip()


def test_no_extensions_env_picks_the_twin() -> None:
    assert _implementation_in_subprocess("1") == "python"


@pytest.mark.parametrize("value", [None, "", "0"])
def test_extension_is_the_default(value: str | None) -> None:
    assert _implementation_in_subprocess(value) == "compiled"


def test_this_run_routes_on_the_core_its_environment_asks_for() -> None:
    """The test command runs the suite twice: the second time, every tenant, service and
    store test routes on the twin."""
    from cim_router import core

    wanted = (
        "python" if os.environ.get("CIM_ROUTER_NO_EXTENSIONS", "") not in ("", "0") else "compiled"
    )
    in_use = core.IMPLEMENTATION
    assert in_use == wanted
