"""The simulator drives the router's queues and their overflow rules like any other code
path: a queue's rule that ends long waits bounds every wait of the day."""

from __future__ import annotations

import asyncio

from cim_router.domain.policy import policy_from_mapping
from cim_router.simulate.driver import simulate_day
from cim_router.simulate.results import day_totals
from cim_router.simulate.scenario import scenario_from_mapping

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
