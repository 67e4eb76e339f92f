"""Single-skill FIFO centres, the setting of the queueing-theory comparisons."""

from __future__ import annotations

import dataclasses
from typing import Any

from cim_router.domain.policy import Policy
from cim_router.simulate.baselines import longest_idle
from cim_router.simulate.runner import Run, run_all
from cim_router.simulate.scenario import Scenario, scenario_from_mapping


def no_wrap_up(policy: Policy | None = None) -> Policy:
    p = policy or Policy()
    return dataclasses.replace(
        p, wrap_up_seconds={c: 0.0 for c in p.wrap_up_seconds}, short_abandon_seconds=0.0
    )


FIFO = longest_idle(no_wrap_up())  # M/M/n's discipline: FIFO, any free agent


def single_skill(
    agents: int,
    load: float,
    handle: float,
    hours: float,
    warmup_hours: float,
    patience: float | None = None,
) -> Scenario:
    """One queue of voice work that every agent can take: M/M/n (M/M/n+M with patience)."""
    arrivals: dict[str, Any] = {
        "channel": "voice",
        "rate_per_hour": load / handle * 3600.0,
        "required": {"general": 1},
        "handle_time_mean_seconds": handle,
    }
    if patience is not None:
        arrivals["patience_mean_seconds"] = patience
    return scenario_from_mapping(
        {
            "duration_hours": hours,
            "warmup_minutes": warmup_hours * 60.0,
            "agents": [{"count": agents, "skills": {"general": 1}}],
            "arrivals": [arrivals],
        }
    )


def fifo_totals(scenario: Scenario, replications: int, seed: int = 1) -> dict[str, Any]:
    outcome = run_all(scenario, [Run("fifo", FIFO)], replications, seed)
    return outcome.summaries[0].totals
