"""Joint assignment, on both implementations: optimal (against SciPy), one interaction per
agent, and the Engine's matching."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import pytest

from cim_router._core_common import (
    ELIGIBLE,
)
from cim_router.domain import (
    Agent,
    AgentState,
    Channel,
    Interaction,
    Policy,
    SkillRequirement,
)
from cim_router.routing.engine import Engine, joint_assignment

if TYPE_CHECKING:
    from tests.conftest import MakeCore
from tests.core_rules import (
    add_agent,
    add_interaction,
    optimum,
    random_instance,
    with_capacity,
)

# --- joint assignment ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize(("n_agents", "n_interactions"), [(45, 35), (15, 50), (70, 8)])
def test_joint_assignment_is_optimal(
    make_core: MakeCore, seed: int, n_agents: int, n_interactions: int
) -> None:
    rng = random.Random(seed)
    core = make_core()
    now = 5_000.0
    inst = random_instance(
        core, rng, n_agents=n_agents, n_interactions=n_interactions, n_skills=6, now=now
    )
    pairs = joint_assignment(core, now)
    assert pairs
    assert len({i for i, _ in pairs}) == len(pairs)
    assert len({a for _, a in pairs}) == len(pairs)
    for iid, aid in pairs:
        assert core.eligibility(iid, aid, now) == ELIGIBLE
    total = sum(core.pair_value(iid, aid, now) for iid, aid in pairs)
    # Over every agent and waiting interaction: ineligible pairs are worth 0 either way.
    matrix = core.score_matrix(list(inst.enqueued_at), list(inst.idle_since), now)
    assert total == pytest.approx(optimum(matrix), rel=1e-12)


@pytest.mark.parametrize("seed", range(2))
def test_score_matrix_is_pair_value_and_zero_exactly_when_ineligible(
    make_core: MakeCore, seed: int
) -> None:
    rng = random.Random(seed)
    core = make_core()
    now = 5_000.0
    inst = random_instance(core, rng, n_agents=70, n_interactions=70, n_skills=8, now=now)
    iids, aids = list(inst.enqueued_at), list(inst.idle_since)
    rng.shuffle(iids)
    rng.shuffle(aids)
    matrix = core.score_matrix(iids, aids, now)
    assert matrix.shape == (len(iids), len(aids))
    eligible = 0
    for r, iid in enumerate(iids):
        for c, aid in enumerate(aids):
            value = core.pair_value(iid, aid, now)
            assert matrix[r, c] == value
            if core.eligibility(iid, aid, now) == ELIGIBLE:
                eligible += 1
                w = core.params.w_urgency
                assert value == pytest.approx(
                    1.0 + core.score_terms(iid, aid, now)[-1] + w * core.urgency(iid, now) / 100
                )
                assert value > 1.0
            else:
                assert value == 0.0
    assert 0 < eligible < matrix.size


def test_joint_assignment_beats_greedy(make_core: MakeCore) -> None:
    core = make_core()
    now = 1_000.0
    add_agent(core, "A", skills=((0, 10), (1, 10)))
    add_agent(core, "B", skills=((0, 1),))
    add_interaction(core, "i1", required=((0, 1),), priority=50.0)
    add_interaction(core, "i2", required=((1, 1),))
    assert core.best_agent("i1", now) == "A"  # greedy would leave i2 without an agent
    both = core.pair_value("i1", "B", now) + core.pair_value("i2", "A", now)
    assert both > core.pair_value("i1", "A", now)
    assert sorted(joint_assignment(core, now)) == [("i1", "B"), ("i2", "A")]


def test_joint_assignment_one_per_agent_and_batch_limit(make_core: MakeCore) -> None:
    core = make_core(Policy(joint_batch_limit=3))
    now = 100.0
    add_agent(core, "multi", capacity=with_capacity(chat=3))
    for k in range(6):
        add_interaction(core, f"c{k}", priority=float(10 * k))
    # One agent, even with room for three chats, gets one interaction per batch: the most
    # valuable, which with equal scores is the most urgent.
    assert joint_assignment(core, now) == [(core.queue_order(now)[0], "multi")]
    for k in range(5):
        add_agent(core, f"x{k}")
    pairs = joint_assignment(core, now)
    assert len(pairs) == 3
    assert {i for i, _ in pairs} == set(core.queue_order(now)[:3])


def test_joint_assignment_empty(make_core: MakeCore) -> None:
    core = make_core()
    assert joint_assignment(core, 0.0) == []
    add_agent(core, "a", skills=((1, 1),))
    assert joint_assignment(core, 0.0) == []
    add_interaction(core, "i", required=((2, 1),))
    assert joint_assignment(core, 0.0) == []


@pytest.mark.parametrize("matching", ["greedy", "joint"])
def test_engine_match_waiting_reserves_what_it_returns(matching: str) -> None:
    engine = Engine(Policy(matching=matching))
    one_chat = {Channel.CHAT: 1}
    for agent_id, skills in (("A", {"billing": 10, "spanish": 10}), ("B", {"billing": 1})):
        engine.upsert_agent(
            Agent(agent_id, skills=skills, capacity=one_chat, state=AgentState.AVAILABLE)
        )
    for iid, skill, priority in (("i1", "billing", 50), ("i2", "spanish", 0)):
        need = (SkillRequirement(skill),)
        engine.enqueue(Interaction(iid, Channel.CHAT, required=need, priority=priority))
    now = 1_000.0
    decisions = engine.match_waiting(now)
    pairs = [(d.interaction_id, d.agent_id) for d in decisions]
    # Greedy gives the urgent one the best agent and leaves i2 waiting; joint serves both.
    assert sorted(pairs) == ([("i1", "A")] if matching == "greedy" else [("i1", "B"), ("i2", "A")])
    assert not any(engine.core.is_waiting(iid) for iid, _ in pairs)
    assert engine.core.waiting_count() == 2 - len(pairs)
    assert engine.core.agents_with_room() == 2 - len(pairs)  # each pair counted in the load
    assert engine.match_waiting(now) == []
    # Greedy decisions say why; a joint assignment is one decision over all of them.
    assert all((d.explanation is not None) == (matching == "greedy") for d in decisions)


def test_joint_matching_repeats_while_agents_with_room_still_match() -> None:
    engine = Engine(Policy(matching="joint"))
    engine.upsert_agent(Agent("ann", capacity={Channel.CHAT: 3}, state=AgentState.AVAILABLE))
    for n in range(4):
        engine.enqueue(Interaction(f"c{n}", Channel.CHAT))
    decisions = engine.match_waiting(100.0)
    assert sorted(d.interaction_id for d in decisions) == ["c0", "c1", "c2"]
    assert {d.agent_id for d in decisions} == {"ann"}
    assert engine.core.waiting_count() == 1
