"""Routing decisions: compiled core vs its pure-Python twin vs a NumPy scorer, one run.

(a) one arriving interaction against 10,000 agents with 64 skills, 30% available;
(b) one freed agent against 5,000 waiting interactions.
Every contender must make the same decision as the compiled core before it is timed.

The NumPy scorer implements the score and aging of the first core, without the terms that
came later (scarcity, the queue boost, the wait bound): the three run under a policy with
those off. `test_arrival_with_every_term` times the compiled core and its twin under the
default policy, scarcity included.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bench import instances
from bench.numpy_baseline import NumpyScorer
from cim_router import _core, _core_py
from cim_router._core_common import CoreParams
from cim_router.domain import Channel, Policy
from cim_router.domain.policy import Weights

POLICY = Policy(
    weights=Weights(scarcity=0.0),
    service_level_weight=0.0,
    wait_bound_seconds={c: 0.0 for c in Channel},
)
DEFAULTS = Policy()
NOW = instances.NOW

ARRIVAL_AGENTS = instances.agents(10_000, available=0.3)
ARRIVAL_PROBES = instances.interactions(200, seed=3)
FREED_AGENTS = instances.agents(200, available=1.0, seed=4)
FREED_WAITING = instances.interactions(5_000, seed=5)
IMPLS = {"compiled": _core.Core, "python": _core_py.Core}


def _rounds(impl: str) -> dict[str, Any]:
    # The twin is slow enough that a few rounds give a stable median.
    return (
        {"rounds": 5, "iterations": 1} if impl == "python" else {"rounds": 2000, "iterations": 10}
    )


def _checked(impl: str) -> int:
    """How many decisions a contender must agree on before it is timed (the twin scans
    every agent in Python: five of its decisions take seconds)."""
    return 5 if impl == "python" else 20


def _cycle(items: list[str]) -> Callable[[], str]:
    state = {"k": 0}

    def nxt() -> str:
        state["k"] = (state["k"] + 1) % len(items)
        return items[state["k"]]

    return nxt


@pytest.fixture(scope="module")
def arrival() -> dict[str, Any]:
    cores: dict[str, Any] = {}
    for name, cls in IMPLS.items():
        core = cls(POLICY)
        instances.load(core, ARRIVAL_AGENTS, ARRIVAL_PROBES)
        cores[name] = core
    cores["numpy"] = NumpyScorer(CoreParams.from_policy(POLICY), ARRIVAL_AGENTS, ARRIVAL_PROBES)
    return cores


@pytest.fixture(scope="module")
def freed() -> dict[str, Any]:
    cores: dict[str, Any] = {}
    for name, cls in IMPLS.items():
        core = cls(POLICY)
        instances.load(core, FREED_AGENTS, FREED_WAITING)
        cores[name] = core
    cores["numpy"] = NumpyScorer(CoreParams.from_policy(POLICY), FREED_AGENTS, FREED_WAITING)
    return cores


@pytest.mark.benchmark(group="a: arrival vs 10,000 agents")
@pytest.mark.parametrize("impl", ["compiled", "python", "numpy"])
def test_arrival(benchmark: Any, arrival: dict[str, Any], impl: str) -> None:
    ids = [i.id for i in ARRIVAL_PROBES]
    reference = arrival["compiled"]
    for iid in ids[: _checked(impl)]:
        assert arrival[impl].best_agent(iid, NOW) == reference.best_agent(iid, NOW)
    assert sum(reference.best_agent(iid, NOW) is not None for iid in ids) > len(ids) // 2
    core = arrival[impl]
    nxt = _cycle(ids)
    benchmark.pedantic(lambda: core.best_agent(nxt(), NOW), **_rounds(impl))


@pytest.mark.benchmark(group="b: freed agent vs 5,000 waiting")
@pytest.mark.parametrize("impl", ["compiled", "python", "numpy"])
def test_freed_agent(benchmark: Any, freed: dict[str, Any], impl: str) -> None:
    ids = [a.id for a in FREED_AGENTS]
    reference = freed["compiled"]
    core = freed[impl]

    def decide(agent_id: str) -> str | None:
        if impl == "numpy":
            return core.best_interaction(ids.index(agent_id), NOW)  # type: ignore[no-any-return]
        return core.best_interaction(agent_id, NOW)  # type: ignore[no-any-return]

    for aid in ids[: _checked(impl)]:
        assert decide(aid) == reference.best_interaction(aid, NOW)
    assert sum(reference.best_interaction(aid, NOW) is not None for aid in ids) > len(ids) // 2
    if impl == "numpy":
        nxt_index = _cycle([str(k) for k in range(len(ids))])
        benchmark.pedantic(lambda: core.best_interaction(int(nxt_index()), NOW), **_rounds(impl))
    else:
        nxt = _cycle(ids)
        benchmark.pedantic(lambda: core.best_interaction(nxt(), NOW), **_rounds(impl))


@pytest.fixture(scope="module")
def arrival_defaults() -> dict[str, Any]:
    cores: dict[str, Any] = {}
    for name, cls in IMPLS.items():
        core = cls(DEFAULTS)
        instances.load(core, ARRIVAL_AGENTS, ARRIVAL_PROBES)
        cores[name] = core
    return cores


@pytest.mark.benchmark(group="a': arrival vs 10,000 agents, every term (default policy)")
@pytest.mark.parametrize("impl", ["compiled", "python"])
def test_arrival_with_every_term(
    benchmark: Any, arrival_defaults: dict[str, Any], impl: str
) -> None:
    ids = [i.id for i in ARRIVAL_PROBES]
    reference = arrival_defaults["compiled"]
    for iid in ids[: 2 if impl == "python" else 5]:  # the twin: seconds each
        assert arrival_defaults[impl].best_agent(iid, NOW) == reference.best_agent(iid, NOW)
    core = arrival_defaults[impl]
    nxt = _cycle(ids)
    benchmark.pedantic(lambda: core.best_agent(nxt(), NOW), **_rounds(impl))
