"""A small multi-skill centre that reaches the router's paths: shifts, rejected and missed
offers, accept delays, relaxation, multitasking on chat, patience, handle time by level."""

from __future__ import annotations

import dataclasses

from cim_router.domain.policy import Policy, RelaxationStep
from cim_router.simulate.scenario import scenario_from_mapping

MIXED = scenario_from_mapping(
    {
        "duration_hours": 1.0,
        "interval_minutes": 20,
        "agents": [
            {
                "name": "billing",
                "count": 4,
                "skills": {"billing": 3},
                "count_by_interval": [2, 4, 3],
                "reject_probability": 0.15,
                "no_answer_probability": 0.15,
                "accept_delay_seconds": 2.0,
            },
            {"name": "tech", "count": 3, "skills": {"tech": 4, "billing": 1}},
            {
                "name": "expert",
                "count": 2,
                "skills": {"tech": 5, "billing": 5},
                "capacity": {"voice": 1, "chat": 2},
            },
        ],
        "arrivals": [
            {
                "channel": "voice",
                "rate_per_hour": [40, 70, 50],
                "required": {"billing": 2},
                "handle_time_mean_seconds": 180,
                "patience_mean_seconds": 90,
            },
            {
                "channel": "chat",
                "rate_per_hour": 30,
                "required": {"tech": 3},
                "handle_time_mean_seconds": 240,
                "handle_time_distribution": "lognormal",
                "handle_time_cv": 0.7,
                "handle_time_by_level": {"5": 0.7},
            },
        ],
    }
)
# Relaxation lets lower levels in with time: billing level 2 drops to 1 after 20 s.
POLICY = dataclasses.replace(
    Policy(),
    relaxation=(RelaxationStep(20.0, 1), RelaxationStep(60.0, 2)),
    exclusion_seconds=30.0,
    offer_timeout_seconds=8.0,
)
