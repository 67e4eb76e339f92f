"""Transfers in a scenario: the first agent hands the call on, through the router's own
transfer code, and the agents of the second skill take it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cim_router.simulate.driver import simulate_day
from cim_router.simulate.scenario import ScenarioError, scenario_from_mapping
from tests.simulate.fifo import no_wrap_up


def centre(mode: str) -> dict[str, Any]:
    return {
        "duration_hours": 1,
        "agents": [
            {"name": "front", "count": 4, "skills": {"general": 2}},
            {"name": "tech", "count": 2, "skills": {"tech": 3}},
        ],
        "arrivals": [
            {
                "channel": "voice",
                "rate_per_hour": 60,
                "required": {"general": 1},
                "handle_time_mean_seconds": 120,
                "transfer_probability": 0.3,
                "transfer_required": {"tech": 2},
                "transfer_mode": mode,
                "transfer_handle_time_mean_seconds": 200,
            }
        ],
    }


@pytest.mark.parametrize("mode", ["cold", "warm"])
def test_transferred_calls_reach_the_second_skill(mode: str) -> None:
    scenario = scenario_from_mapping(centre(mode))
    day = asyncio.run(simulate_day(scenario, no_wrap_up(), 2, 0, check=True))
    t = day.measured
    assert 0 < t.transferred < t.answered  # about 30% of them, counted by the router
    assert t.handled == t.answered == t.offered  # every call was finished, once
    tech = scenario.agents.index(next(g for g in scenario.agents if g.name == "tech"))
    assert day.group_busy[tech] > 0  # only transfers reach the tech agents


def test_a_transfer_needs_its_skills() -> None:
    data = centre("cold")
    del data["arrivals"][0]["transfer_required"]
    with pytest.raises(ScenarioError) as caught:
        scenario_from_mapping(data)
    assert caught.value.key == "arrivals[0].transfer_required"
    data = centre("blind")
    with pytest.raises(ScenarioError) as bad_mode:
        scenario_from_mapping(data)
    assert bad_mode.value.key == "arrivals[0].transfer_mode"
