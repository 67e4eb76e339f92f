"""The simulator's speed: simulated interactions per second of wall time for a day of
200 agents and 4 skills (bench/scenarios/day_200_agents_4_skills.toml), on the compiled
core, with the default policy and with the longest-idle baseline.

The issue's bar is 10,000 interactions per second; bench/README.md has the figures and
where the time goes. Run with `--benchmark-enable`; in the test suite (benchmarks disabled)
it runs once, on the day's first hour only."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest

from cim_router.core import IMPLEMENTATION
from cim_router.domain.policy import Policy
from cim_router.simulate.baselines import longest_idle
from cim_router.simulate.driver import simulate_day
from cim_router.simulate.scenario import load_scenario

SCENARIO = load_scenario(Path(__file__).parent / "scenarios" / "day_200_agents_4_skills.toml")


@pytest.mark.parametrize("policy", ["default", "longest-idle"])
def test_simulated_interactions_per_second(benchmark: Any, policy: str) -> None:
    chosen = Policy() if policy == "default" else longest_idle(Policy())
    scenario = dataclasses.replace(SCENARIO, duration_hours=1) if benchmark.disabled else SCENARIO
    rates: list[float] = []

    def day() -> int:
        start = time.perf_counter()
        figures = asyncio.run(simulate_day(scenario, chosen, 1, 0))
        rates.append(figures.interactions / (time.perf_counter() - start))
        return figures.interactions

    n = benchmark.pedantic(day, rounds=3, iterations=1)
    assert n > (1_000 if benchmark.disabled else 14_000)
    benchmark.extra_info["interactions"] = n
    benchmark.extra_info["interactions_per_second"] = max(rates)
    benchmark.extra_info["core"] = IMPLEMENTATION
