"""Named queues through the Engine: routing profiles on agents, a queue on an interaction,
queue ids apart from skill names, and the explanation naming the queue rules."""

from __future__ import annotations

import pytest

from cim_router.domain import Agent, AgentState, Channel, Interaction, Policy, SkillRequirement
from cim_router.routing.engine import Engine

NOW = 1_000.0


def _agent(agent_id: str, **skills: int) -> Agent:
    return Agent(agent_id, skills=skills, capacity={Channel.CHAT: 2}, state=AgentState.AVAILABLE)


def _chat(iid: str, skill: str = "billing", priority: int = 0) -> Interaction:
    need = (SkillRequirement(skill),)
    return Interaction(iid, Channel.CHAT, required=need, priority=priority, enqueued_at=NOW)


@pytest.fixture
def engine() -> Engine:
    engine = Engine(Policy())
    engine.upsert_agent(_agent("sam", billing=5), {"sales": (1, 0.0), "billing": (2, 0.0)})
    engine.upsert_agent(_agent("bea", billing=5), {"billing": (1, 0.0), "sales": (2, 30.0)})
    engine.upsert_agent(_agent("nobody", billing=5))
    return engine


def test_queued_work_goes_only_to_agents_serving_the_queue(engine: Engine) -> None:
    engine.enqueue(_chat("s"), queue="sales")
    assert engine.core.eligibility("s", "nobody", NOW) != 0
    assert engine.best_agent("s", NOW) == "sam"
    engine.core.set_agent_state("sam", int(AgentState.NOT_READY), NOW)
    assert engine.best_agent("s", NOW) is None  # bea waits 30 s for sales
    assert engine.core.next_gate_due(NOW) == NOW + 30.0
    decision = engine.route_arrival("s", NOW + 30.0)
    assert decision is not None and decision.agent_id == "bea"


def test_a_freed_agent_takes_its_first_queue_first(engine: Engine) -> None:
    engine.enqueue(_chat("s", priority=0), queue="sales")
    engine.enqueue(_chat("b", priority=90), queue="billing")
    assert engine.best_interaction("sam", NOW + 60.0) == "s"
    assert engine.best_interaction("bea", NOW + 60.0) == "b"


def test_work_without_a_queue_is_served_as_before(engine: Engine) -> None:
    engine.enqueue(_chat("open"))
    assert engine.best_agent("open", NOW) is not None
    assert {engine.core.eligibility("open", a, NOW) for a in ("sam", "bea", "nobody")} == {0}


def test_a_queue_and_a_skill_of_the_same_name_do_not_meet() -> None:
    engine = Engine(Policy())
    # Interned in that order, skill "billing" and queue "sales" both get id 0.
    engine.upsert_agent(_agent("ann", billing=5), {"sales": (1, 0.0)})
    engine.upsert_agent(_agent("ben", billing=5), {"billing": (1, 0.0)})
    assert engine.skills.id("billing") == engine.queues.id("sales") == 0
    engine.enqueue(_chat("b"), queue="billing")
    assert engine.best_agent("b", NOW) == "ben"
    engine.enqueue(_chat("s"), queue="sales")
    assert engine.best_agent("s", NOW) == "ann"


def test_the_explanation_counts_the_queue_rules_by_name(engine: Engine) -> None:
    engine.enqueue(_chat("s"), queue="sales")
    at_first = engine.explain("s", NOW)
    assert at_first.exclusions == {"not_in_queue": 1, "queue_delay": 1}
    assert at_first.eligible == 1 and at_first.winner is not None
    assert at_first.winner.agent_id == "sam"
    later = engine.explain("s", NOW + 30.0)
    assert later.exclusions == {"not_in_queue": 1}
    assert later.eligible == 2


def test_an_upsert_without_queues_leaves_the_agent_serving_none(engine: Engine) -> None:
    engine.enqueue(_chat("s"), queue="sales")
    engine.upsert_agent(_agent("sam", billing=5))
    assert engine.explain("s", NOW).exclusions == {"not_in_queue": 2, "queue_delay": 1}


def test_a_bad_profile_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError):
        engine.upsert_agent(_agent("zed"), {"sales": (0, 0.0)})
    with pytest.raises(ValueError):
        engine.upsert_agent(_agent("zed"), {"sales": (1, -5.0)})
    assert not engine.core.has_agent("zed")


def test_a_transfer_target_is_checked_without_queue_gates(engine: Engine) -> None:
    assert engine.check_target(_chat("t"), "nobody", NOW) == ""
