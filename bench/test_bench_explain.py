"""The routing explanation captured at each decision, in a tenant small enough for the full
scan (Engine.capture: up to EXPLAIN_SCAN_LIMIT agents): the core ranking every agent in one
call (`rank_candidates`), against the same ranking made agent by agent from Python through
the core's public rules (`eligibility`, `score_terms`, `agent_idle_since`), as Explain did
before. Both build the whole Explanation, on the compiled core, 200 agents, and must give
the same one before they are timed.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench import instances
from cim_router import _core, _core_py_rank
from cim_router.domain import Policy
from cim_router.routing.engine import EXPLAIN_SCAN_LIMIT
from cim_router.routing.explain import explain

AGENTS = instances.agents(200, available=0.6, seed=6)
PROBES = instances.interactions(100, seed=7)
NOW = instances.NOW


class _AgentByAgent:
    """The compiled core, ranking from Python one agent at a time."""

    def __init__(self, core: Any) -> None:
        self.core = core

    def rank_candidates(self, interaction_id: str, now: float) -> tuple[list[int], list[str]]:
        return _core_py_rank.rank_candidates(self.core, interaction_id, now)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.core, name)


@pytest.fixture(scope="module")
def cores() -> dict[str, Any]:
    core = _core.Core(Policy())
    instances.load(core, AGENTS, PROBES)
    return {"in the core": core, "agent by agent": _AgentByAgent(core)}


@pytest.mark.benchmark(group="explanation captured at a decision, 200 agents")
@pytest.mark.parametrize("how", ["in the core", "agent by agent"])
def test_explanation_at_a_decision(benchmark: Any, cores: dict[str, Any], how: str) -> None:
    assert len(AGENTS) <= EXPLAIN_SCAN_LIMIT  # the size where every decision makes one
    ids = [i.id for i in PROBES]
    made = [explain(cores[how], iid, NOW) for iid in ids]
    assert made == [explain(cores["in the core"], iid, NOW) for iid in ids]
    assert sum(e.winner is not None for e in made) > len(ids) // 2
    assert any(e.exclusions for e in made) and any(e.runner_up for e in made)
    state = {"k": 0}

    def one() -> None:
        state["k"] = (state["k"] + 1) % len(ids)
        explain(cores[how], ids[state["k"]], NOW)

    benchmark.pedantic(one, rounds=300, iterations=5)
