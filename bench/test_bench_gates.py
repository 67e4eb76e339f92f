"""Routing decisions with queue gates in use: the instances of `test_bench_core.py` with
every agent serving 1-5 of 20 gates (ranks 1-5, delays 0-120 s) and 80% of the
interactions behind a gate; compiled core against its pure-Python twin, same decisions
checked before timing. For the record: no bar."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from bench import instances
from cim_router import _core, _core_py
from cim_router.domain import Policy

POLICY = Policy()
NOW = instances.NOW
N_GATES = 20
DELAYS = (0.0, 0.0, 10.0, 30.0, 120.0)
IMPLS = {"compiled": _core.Core, "python": _core_py.Core}


def _load(
    core: Any, agents: list[instances.AgentSpec], waiting: list[instances.InteractionSpec]
) -> None:
    rng = random.Random(11)
    for a in agents:
        chosen = rng.sample(range(N_GATES), rng.randint(1, 5))
        gates = [(g, rng.randint(1, 5), rng.choice(DELAYS)) for g in chosen]
        core.upsert_agent(
            a.id, a.tier, a.skills, instances.CAPACITY, a.state, (0,) * 6, a.idle_since, gates
        )
    for i in waiting:
        gate = rng.randrange(N_GATES) if rng.random() < 0.8 else -1
        core.add_interaction(
            i.id, i.channel, i.required, i.preferred, i.priority, i.tier_bonus, i.target_tier,
            i.escalation, i.sla, i.enqueued_at, "", (), gate,
        )  # fmt: skip


ARRIVAL_AGENTS = instances.agents(10_000, available=0.3)
ARRIVAL_PROBES = instances.interactions(200, seed=3)
FREED_AGENTS = instances.agents(200, available=1.0, seed=4)
FREED_WAITING = instances.interactions(5_000, seed=5)


def _rounds(impl: str) -> dict[str, Any]:
    return (
        {"rounds": 5, "iterations": 1} if impl == "python" else {"rounds": 2000, "iterations": 10}
    )


@pytest.fixture(scope="module")
def arrival() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, cls in IMPLS.items():
        out[name] = core = cls(POLICY)
        _load(core, ARRIVAL_AGENTS, ARRIVAL_PROBES)
    return out


@pytest.fixture(scope="module")
def freed() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, cls in IMPLS.items():
        out[name] = core = cls(POLICY)
        _load(core, FREED_AGENTS, FREED_WAITING)
    return out


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


@pytest.mark.benchmark(group="gates a: arrival vs 10,000 agents")
@pytest.mark.parametrize("impl", ["compiled", "python"])
def test_gated_arrival(benchmark: Any, arrival: dict[str, Any], impl: str) -> None:
    ids = [i.id for i in ARRIVAL_PROBES]
    reference = arrival["compiled"]
    for iid in ids[: _checked(impl)]:
        assert arrival[impl].best_agent(iid, NOW) == reference.best_agent(iid, NOW)
    assert sum(reference.best_agent(iid, NOW) is not None for iid in ids) > len(ids) // 4
    core, nxt = arrival[impl], _cycle(ids)
    benchmark.pedantic(lambda: core.best_agent(nxt(), NOW), **_rounds(impl))


@pytest.mark.benchmark(group="gates b: freed agent vs 5,000 waiting")
@pytest.mark.parametrize("impl", ["compiled", "python"])
def test_gated_freed_agent(benchmark: Any, freed: dict[str, Any], impl: str) -> None:
    ids = [a.id for a in FREED_AGENTS]
    reference = freed["compiled"]
    for aid in ids[: _checked(impl)]:
        assert freed[impl].best_interaction(aid, NOW) == reference.best_interaction(aid, NOW)
    assert sum(reference.best_interaction(aid, NOW) is not None for aid in ids) > len(ids) // 2
    core, nxt = freed[impl], _cycle(ids)
    benchmark.pedantic(lambda: core.best_interaction(nxt(), NOW), **_rounds(impl))


@pytest.mark.benchmark(group="gates c: next_gate_due over 5,000 waiting")
@pytest.mark.parametrize("impl", ["compiled"])
def test_next_gate_due(benchmark: Any, freed: dict[str, Any], impl: str) -> None:
    core = freed[impl]
    assert core.next_gate_due(NOW) == freed["python"].next_gate_due(NOW)
    benchmark.pedantic(lambda: core.next_gate_due(NOW), rounds=200, iterations=10)
