"""Seeded benchmark instances, loaded the same way into every implementation."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from cim_router._core_common import N_CHANNELS

N_SKILLS = 64
NOW = 10_000.0
CAPACITY = (1, 1, 3, 3, 3, 5)


@dataclass(frozen=True)
class AgentSpec:
    id: str
    tier: int
    skills: tuple[tuple[int, int], ...]
    state: int
    idle_since: float


@dataclass(frozen=True)
class InteractionSpec:
    id: str
    channel: int
    required: tuple[tuple[int, int], ...]
    preferred: tuple[tuple[int, int], ...]
    priority: float
    tier_bonus: float
    target_tier: int
    escalation: int
    sla: float
    enqueued_at: float


def agents(n: int, available: float, seed: int = 1) -> list[AgentSpec]:
    """Agents with 4..12 of the 64 skills at levels 1..10; `available` of them AVAILABLE."""
    rng = random.Random(seed)
    return [
        AgentSpec(
            f"agent-{k:05d}",
            rng.randint(1, 5),
            tuple((s, rng.randint(1, 10)) for s in rng.sample(range(N_SKILLS), rng.randint(4, 12))),
            1 if rng.random() < available else 2,
            rng.uniform(0.0, NOW),
        )
        for k in range(n)
    ]


def interactions(n: int, seed: int = 2) -> list[InteractionSpec]:
    """Interactions needing 1..2 skills at minimum level 1..6, spread over the channels."""
    rng = random.Random(seed)
    return [
        InteractionSpec(
            f"int-{k:05d}",
            rng.randrange(N_CHANNELS),
            tuple((s, rng.randint(1, 6)) for s in rng.sample(range(N_SKILLS), rng.randint(1, 2))),
            tuple((s, 1) for s in rng.sample(range(N_SKILLS), rng.randint(0, 2))),
            float(rng.randint(0, 100)),
            rng.choice((0.0, 10.0, 20.0)),
            rng.randint(1, 3),
            0,
            rng.choice((20.0, 60.0, 300.0)),
            rng.uniform(NOW - 600.0, NOW),
        )
        for k in range(n)
    ]


def load(core: Any, agent_specs: list[AgentSpec], inter_specs: list[InteractionSpec]) -> None:
    for a in agent_specs:
        core.upsert_agent(
            a.id, a.tier, a.skills, CAPACITY, a.state, (0,) * N_CHANNELS, a.idle_since
        )
    for i in inter_specs:
        core.add_interaction(
            i.id,
            i.channel,
            i.required,
            i.preferred,
            i.priority,
            i.tier_bonus,
            i.target_tier,
            i.escalation,
            i.sla,
            i.enqueued_at,
        )
