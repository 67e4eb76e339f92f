"""Building blocks of the core's rule tests: agents and interactions by number, load and
capacity vectors."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from cim_router._core_common import (
    ELIGIBLE,
    N_CHANNELS,
    STATE_AVAILABLE,
)
from cim_router._core_py import Core
from cim_router.domain import (
    AgentState,
    Channel,
    Policy,
    RelaxationStep,
)
from cim_router.domain.channel import DEFAULT_CAPACITY

if TYPE_CHECKING:
    pass

VOICE, VIDEO, CHAT, SMS, SOCIAL, EMAIL = (int(c) for c in Channel)
DEFAULT_CAPS: tuple[int, ...] = tuple(DEFAULT_CAPACITY[c] for c in Channel)
NO_LOAD: tuple[int, ...] = (0,) * N_CHANNELS
OFFLINE, NOT_READY, WRAP_UP = (
    int(AgentState.OFFLINE),
    int(AgentState.NOT_READY),
    int(AgentState.WRAP_UP),
)

Skills = Sequence[tuple[int, int]]


def add_agent(
    core: Core,
    agent_id: str,
    skills: Skills = ((0, 5),),
    *,
    tier: int = 1,
    state: int = STATE_AVAILABLE,
    capacity: Sequence[int] = DEFAULT_CAPS,
    load: Sequence[int] = NO_LOAD,
    idle_since: float = 0.0,
    gates: Sequence[tuple[int, int, float]] = (),
) -> None:
    core.upsert_agent(agent_id, tier, skills, capacity, state, load, idle_since, gates)


def add_interaction(
    core: Core,
    interaction_id: str,
    required: Skills = ((0, 1),),
    *,
    channel: int = CHAT,
    preferred: Skills = (),
    priority: float = 0.0,
    tier_bonus: float = 0.0,
    target_tier: int = 1,
    escalation: int = 0,
    sla: float = 60.0,
    enqueued_at: float = 0.0,
    preferred_agent: str = "",
    excluded: Sequence[str] = (),
    gate: int = -1,
) -> None:
    core.add_interaction(
        interaction_id,
        channel,
        required,
        preferred,
        priority,
        tier_bonus,
        target_tier,
        escalation,
        sla,
        enqueued_at,
        preferred_agent,
        excluded,
        gate,
    )


def with_load(**loads: int) -> tuple[int, ...]:
    """A per-channel load vector from channel names, e.g. with_load(chat=2)."""
    out = list(NO_LOAD)
    for name, value in loads.items():
        out[Channel.parse(name)] = value
    return tuple(out)


def with_capacity(**caps: int) -> tuple[int, ...]:
    out = list(DEFAULT_CAPS)
    for name, value in caps.items():
        out[Channel.parse(name)] = value
    return tuple(out)


RELAXING = Policy(
    relaxation=(RelaxationStep(30.0, 1), RelaxationStep(60.0, 2, drop_preferred=True))
)


ENQ = 100.0


def expected_step(policy: Policy, waited: float) -> int:
    return sum(1 for s in policy.relaxation if waited >= s.after_seconds)


def expected_min_level(policy: Policy, level: int, waited: float) -> int:
    step = expected_step(policy, waited)
    drop = policy.relaxation[step - 1].level_drop if step else 0
    return max(1, level - drop)


def expected_urgency(
    policy: Policy, base: float, sla: float, waited: float, channel: int = CHAT
) -> float:
    """Priority plus capped aging; from the channel's wait bound less its lead on, 1e9 plus
    the wait, above any priority (no queue boost: these interactions have no queue)."""
    waited = max(waited, 0.0)
    bound = policy.wait_bound_seconds[Channel(channel)]
    if bound > 0 and waited >= max(0.0, bound - policy.wait_bound_lead_seconds):
        return 1e9 + waited
    return base + min(policy.aging_rate * waited / sla, policy.aging_cap)


@dataclass
class Instance:
    """What a random instance put in a core, in the order it was added."""

    idle_since: dict[str, float] = field(default_factory=dict)  # agent id -> idle since
    enqueued_at: dict[str, float] = field(default_factory=dict)  # interaction id -> enqueued


def random_instance(
    core: Core,
    rng: random.Random,
    *,
    n_agents: int,
    n_interactions: int,
    n_skills: int,
    now: float,
) -> Instance:
    """Fill `core` with random agents and waiting interactions, with plenty of ties."""
    inst = Instance()
    templates: list[tuple[int, list[tuple[int, int]], float]] = []
    for k in range(n_agents):
        aid = f"a{k:04d}"
        if templates and rng.random() < 0.25:
            # A copy of an earlier agent: same score, so the tie-breaks decide.
            tier, skills, idle = rng.choice(templates)
            if rng.random() < 0.5:
                idle = rng.choice([0.0, now - 900.0, now - 1200.0])
        else:
            tier = rng.randint(1, 5)
            chosen = rng.sample(range(n_skills), rng.randint(1, 6))
            skills = [(s, rng.randint(1, 10)) for s in chosen]
            idle = rng.choice([0.0, now - rng.uniform(0.0, 900.0), now - 60.0, now + 5.0])
            templates.append((tier, skills, idle))
        load = [0] * N_CHANNELS
        roll = rng.random()
        if roll < 0.1:
            load[VOICE] = 1
        elif roll < 0.5:
            load[CHAT] = rng.randint(0, 3)
            load[EMAIL] = rng.randint(0, 2)
        state = STATE_AVAILABLE if rng.random() < 0.85 else rng.choice([OFFLINE, NOT_READY])
        core.upsert_agent(aid, tier, skills, DEFAULT_CAPS, state, load, idle)
        if rng.random() < 0.2:
            skill = rng.choice([-1, *(s for s, _ in skills)])
            core.set_handle_time(aid, rng.randrange(N_CHANNELS), skill, rng.uniform(30.0, 1500.0))
        inst.idle_since[aid] = idle
    agent_ids = list(inst.idle_since)
    for k in range(n_interactions):
        iid = f"i{k:04d}"
        required = [(s, rng.randint(1, 7)) for s in rng.sample(range(n_skills), rng.randint(0, 3))]
        preferred = [(s, 1) for s in rng.sample(range(n_skills), rng.randint(0, 2))]
        # Coarse values make equal urgencies likely.
        enqueued = rng.choice([now - 100.0, now - 40.0, now - 10.0, now - rng.uniform(0.0, 200.0)])
        core.add_interaction(
            iid,
            rng.choice([CHAT, CHAT, EMAIL, VOICE, SMS, VIDEO, SOCIAL]),
            required,
            preferred,
            float(rng.choice([0, 0, 10, 50, rng.randint(0, 100)])),
            rng.choice([0.0, 10.0, 20.0]),
            rng.randint(1, 5),
            rng.choice([0, 0, 0, 1, 2]),
            rng.choice([20.0, 60.0, 300.0]),
            enqueued,
            rng.choice(["", "", rng.choice(agent_ids)]),
            rng.sample(agent_ids, rng.randint(0, 3)),
        )
        inst.enqueued_at[iid] = enqueued
    return inst


def expected_best_agent(core: Core, inst: Instance, iid: str, now: float) -> tuple[str | None, int]:
    """The argmax over every agent, and how many eligible agents share the best score."""
    keys = [
        (-core.score_terms(iid, aid, now)[-1], idle, aid)
        for aid, idle in inst.idle_since.items()
        if core.eligibility(iid, aid, now) == ELIGIBLE
    ]
    if not keys:
        return None, 0
    best = min(keys)  # highest score, then longest idle (smallest idle_since), then lowest id
    return best[2], sum(1 for k in keys if k[0] == best[0])


def expected_best_interaction(core: Core, inst: Instance, aid: str, now: float) -> str | None:
    keys = [
        (-core.urgency(iid, now), enq, pos, iid)
        for pos, (iid, enq) in enumerate(inst.enqueued_at.items())
        if core.is_waiting(iid) and core.eligibility(iid, aid, now) == ELIGIBLE
    ]
    return min(keys)[3] if keys else None  # most urgent, then enqueued first, then added first


def optimum(matrix: npt.NDArray[np.float64]) -> float:
    rows, cols = linear_sum_assignment(matrix, maximize=True)
    return float(matrix[rows, cols].sum())


BAD_AGENT_ARGS: list[tuple[str, dict[str, object]]] = [
    ("tier 0", {"tier": 0}),
    ("tier 6", {"tier": 6}),
    ("duplicate skill", {"skills": ((1, 3), (1, 4))}),
    ("level 0", {"skills": ((1, 0),)}),
    ("level 11", {"skills": ((1, 11),)}),
    ("negative skill", {"skills": ((-1, 3),)}),
    ("short capacity", {"capacity": (1, 1, 3)}),
    ("capacity 256", {"capacity": (256, 1, 3, 3, 3, 5)}),
    ("negative load", {"load": (0, 0, -1, 0, 0, 0)}),
    ("long load", {"load": (0,) * (N_CHANNELS + 1)}),
]


BAD_INTERACTION_ARGS: list[tuple[str, dict[str, object]]] = [
    ("channel -1", {"channel": -1}),
    ("channel 6", {"channel": N_CHANNELS}),
    ("sla 0", {"sla": 0.0}),
    ("sla negative", {"sla": -5.0}),
    ("target tier 0", {"target_tier": 0}),
    ("target tier 6", {"target_tier": 6}),
    ("escalation -1", {"escalation": -1}),
    ("duplicate required", {"required": ((2, 1), (2, 5))}),
    ("duplicate preferred", {"preferred": ((2, 1), (2, 5))}),
    ("required level 0", {"required": ((2, 0),)}),
    ("required level 11", {"required": ((2, 11),)}),
    ("preferred level 11", {"preferred": ((2, 11),)}),
    ("negative skill", {"required": ((-3, 1),)}),
    ("nine required", {"required": tuple((s, 1) for s in range(9))}),
    ("nine preferred", {"preferred": tuple((s, 1) for s in range(9))}),
]


UNKNOWN_ID_CALLS: list[tuple[str, Callable[[Core], object]]] = [
    ("eligibility/agent", lambda c: c.eligibility("i", "nobody", 0.0)),
    ("eligibility/interaction", lambda c: c.eligibility("nothing", "a", 0.0)),
    ("score_terms/agent", lambda c: c.score_terms("i", "nobody", 0.0)),
    ("score_terms/interaction", lambda c: c.score_terms("nothing", "a", 0.0)),
    ("pair_value", lambda c: c.pair_value("i", "nobody", 0.0)),
    ("score_matrix/agent", lambda c: c.score_matrix(["i"], ["a", "nobody"], 0.0)),
    ("score_matrix/interaction", lambda c: c.score_matrix(["nothing"], ["a"], 0.0)),
    ("urgency", lambda c: c.urgency("nothing", 0.0)),
    ("relaxation_step", lambda c: c.relaxation_step("nothing", 0.0)),
    ("best_agent", lambda c: c.best_agent("nothing", 0.0)),
    ("best_interaction", lambda c: c.best_interaction("nobody", 0.0)),
    ("set_agent_state", lambda c: c.set_agent_state("nobody", STATE_AVAILABLE, 0.0)),
    ("set_agent_load", lambda c: c.set_agent_load("nobody", CHAT, 1)),
    ("set_handle_time", lambda c: c.set_handle_time("nobody", CHAT, -1, 10.0)),
    ("exclude_agent", lambda c: c.exclude_agent("nothing", "a")),
    ("agent_idle_since", lambda c: c.agent_idle_since("nobody")),
]
