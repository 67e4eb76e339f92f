"""The simulator drives the router's queues and their overflow rules like any other code
path: a queue's rule that ends long waits bounds every wait of the day."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cim_router.domain.policy import Policy, policy_from_mapping
from cim_router.simulate.draws import customers
from cim_router.simulate.driver import simulate_day
from cim_router.simulate.results import day_totals
from cim_router.simulate.runner import Run, run_all
from cim_router.simulate.scenario import ScenarioError, load_scenario, scenario_from_mapping

POLICY = policy_from_mapping(
    {
        "queues": {
            "sales": {
                "channels": ["voice"],
                "overflow": [
                    {
                        "name": "give-up",
                        "when": "waited",
                        "threshold": 45,
                        "then": "end",
                        "disposition": "too-long",
                    }
                ],
            }
        }
    }
)
OVERLOADED = scenario_from_mapping(
    {
        "duration_hours": 2,
        "agents": [{"count": 3, "skills": {"sales": 2}}],
        "arrivals": [
            {
                "channel": "voice",
                "rate_per_hour": 60,  # 4 erlangs of work for 3 agents
                "required": {"sales": 1},
                "queue": "sales",
                "handle_time_mean_seconds": 240,
            }
        ],
    }
)


def test_an_overflow_rule_that_ends_long_waits_bounds_every_wait() -> None:
    day = asyncio.run(simulate_day(OVERLOADED, POLICY, 1, 0, check=True))
    assert day.measured.overflowed > 10  # the rule fired, counted by the router
    assert day.measured.offered == day.interactions
    totals = day_totals(day)
    assert totals["max_wait_seconds"] is not None and 40 < totals["max_wait_seconds"] <= 45.001
    # Every interaction has an outcome: answered, or ended by the rule.
    assert day.total_outcomes == day.interactions


def test_a_stream_must_name_a_queue_of_every_policy(tmp_path: Path) -> None:
    scenario = tmp_path / "day.toml"
    scenario.write_text(
        "duration_hours = 1\n[[agents]]\ncount = 1\nskills = { sales = 1 }\n"
        '[[arrivals]]\nchannel = "chat"\nrate_per_hour = 5\nrequired = { sales = 1 }\n'
        'queue = "sales"\nhandle_time_mean_seconds = 60\n'
    )
    with pytest.raises(ScenarioError, match=r"arrivals\[0\].queue: no queue 'sales'"):
        run_all(load_scenario(scenario), [Run("defaults", Policy())], 1, 1)
    # The policy's queue takes voice only: chat cannot enter it.
    with pytest.raises(ScenarioError, match="does not take chat"):
        run_all(load_scenario(scenario), [Run("sales", POLICY)], 1, 1)


def test_a_full_queue_turns_customers_away() -> None:
    small = policy_from_mapping({"queues": {"sales": {"max_size": 2}}})
    day = asyncio.run(simulate_day(OVERLOADED, small, 1, 0, check=True))
    assert day.blocked > 0
    drawn = len(customers(OVERLOADED, 1, 0))
    assert day.interactions + day.blocked == drawn == day.measured.offered + day.blocked
    assert day.total_outcomes == day.interactions  # those in line were all served
