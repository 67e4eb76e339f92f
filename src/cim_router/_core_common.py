"""Constants and policy unpacking shared by the compiled core and its pure-Python twin."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

# The compiled core defines these (and the codes below) as C enums in _core.pxd, where
# array sizes need them at compile time; tests/test_core_constants.py holds the two equal.
N_CHANNELS = 6
MAX_LEVEL = 10
MAX_TIER = 5
MAX_SKILLS = 8  # required, and preferred, skills per interaction
MAX_RELAX_STEPS = 16
MAX_ESCALATION_TIERS = 16  # escalation levels with their own minimum tier

MAX_SKILL_ID = 1_000_000
MAX_ESCALATION = 1000
MAX_GATES = 64  # queue gates per agent (its routing profile's queues)
MAX_GATE_ID = 1_000_000
MAX_GATE_RANK = 255  # ranks are 1..255, 1 served first

# Agent states, as in cim_router.domain.AgentState.
STATE_AVAILABLE = 1
MAX_STATE = 3

# Why an agent is not eligible for an interaction. Checked in the order NOT_AVAILABLE,
# NO_CAPACITY, SKILL_MISSING, SKILL_LEVEL, TIER, NOT_IN_QUEUE, QUEUE_DELAY, EXCLUDED: the
# gate codes came later and were numbered after the others, which keep their codes.
ELIGIBLE = 0
NOT_AVAILABLE = 1  # agent state is not AVAILABLE
NO_CAPACITY = 2  # channel full, or blocked by an exclusive channel
SKILL_MISSING = 3
SKILL_LEVEL = 4  # has the skill, below the (relaxed) minimum level
TIER = 5  # below the tier the escalation level requires
EXCLUDED = 6  # excluded for this interaction (rejected or missed it before)
NOT_IN_QUEUE = 7  # the interaction has a gate the agent does not serve
QUEUE_DELAY = 8  # the agent serves the gate, but its delay has not passed since enqueue
REASONS = (
    "eligible",
    "not_available",
    "no_capacity",
    "skill_missing",
    "skill_level",
    "tier",
    "excluded",
    "not_in_queue",
    "queue_delay",
)


# A queue's recent service level counts this many answers at its target besides its own, so
# that its first few answers do not swing the boost from nothing to the whole weight.
SERVICE_LEVEL_PRIOR = 5.0


def check_gate_id(gate: int) -> int:
    """A gate id for a gate's own settings: 0..MAX_GATE_ID."""
    if not 0 <= gate <= MAX_GATE_ID:
        raise ValueError(f"gate must be 0..{MAX_GATE_ID}, got {gate}")
    return int(gate)


def check_share(share: float) -> float:
    """A service-level target share: 0 (none) .. 1."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must be 0..1, got {share}")
    return float(share)


def sum_urgency(terms: tuple[float, float, float, float]) -> float:
    """Urgency from `urgency_terms`: base + aging + boost, or PROMOTED + the wait once the
    interaction has reached its wait bound (terms[3] >= 0)."""
    if terms[3] >= 0.0:
        return PROMOTED + terms[3]
    return terms[0] + terms[1] + terms[2]


def check_gates(gates: Iterable[tuple[int, int, float]]) -> tuple[tuple[int, int, float], ...]:
    """An agent's queue gates as (gate id, rank, delay seconds), checked; both cores use it."""
    out = tuple((int(g), int(rank), float(delay)) for g, rank, delay in gates)
    if len(out) > MAX_GATES:
        raise ValueError(f"at most {MAX_GATES} gates per agent")
    for g, rank, delay in out:
        if not 0 <= g <= MAX_GATE_ID:
            raise ValueError(f"gate ids are 0..{MAX_GATE_ID}, got {g}")
        if not 1 <= rank <= MAX_GATE_RANK:
            raise ValueError(f"gate ranks are 1..{MAX_GATE_RANK}, got {rank}")
        if not 0.0 <= delay < math.inf:
            raise ValueError(f"gate delays are finite and >= 0, got {delay}")
    if len({g for g, _, _ in out}) != len(out):
        raise ValueError("gates: a gate is listed twice")
    return out


def check_gate(gate: int) -> int:
    """An interaction's gate: -1 for none, else a gate id."""
    if not -1 <= gate <= MAX_GATE_ID:
        raise ValueError(f"gate must be -1 (none) or 0..{MAX_GATE_ID}, got {gate}")
    return int(gate)


class _RelaxationLike(Protocol):
    @property
    def after_seconds(self) -> float: ...
    @property
    def level_drop(self) -> int: ...
    @property
    def drop_preferred(self) -> bool: ...


class _WeightsLike(Protocol):
    @property
    def skill(self) -> float: ...
    @property
    def preferred_skill(self) -> float: ...
    @property
    def tier(self) -> float: ...
    @property
    def idle(self) -> float: ...
    @property
    def handle_time(self) -> float: ...
    @property
    def sticky(self) -> float: ...
    @property
    def urgency(self) -> float: ...
    @property
    def scarcity(self) -> float: ...


class PolicyLike(Protocol):
    """The parts of cim_router.domain.Policy the core reads."""

    @property
    def weights(self) -> _WeightsLike: ...
    @property
    def idle_cap_seconds(self) -> float: ...
    @property
    def handle_time_reference_seconds(self) -> float: ...
    @property
    def aging_rate(self) -> float: ...
    @property
    def aging_cap(self) -> float: ...
    @property
    def relaxation(self) -> tuple[_RelaxationLike, ...]: ...
    @property
    def escalation_min_tier(self) -> tuple[int, ...]: ...
    @property
    def escalation_bonus(self) -> float: ...
    @property
    def exclusive_channels(self) -> frozenset[int]: ...
    @property
    def handle_time_seconds(self) -> object: ...
    @property
    def joint_batch_limit(self) -> int: ...
    @property
    def scarcity_horizon_seconds(self) -> float: ...
    @property
    def service_level_weight(self) -> float: ...
    @property
    def service_level_horizon_seconds(self) -> float: ...
    @property
    def wait_bound_seconds(self) -> object: ...
    @property
    def wait_bound_lead_seconds(self) -> float: ...
    @property
    def on_time_first(self) -> bool: ...


@dataclass(frozen=True)
class CoreParams:
    """The policy flattened into plain numbers, in the form both cores consume."""

    w_skill: float
    w_pref: float
    w_tier: float
    w_idle: float
    w_aht: float
    w_sticky: float
    w_urgency: float
    idle_cap: float
    aht_ref: float
    aging_rate: float
    aging_cap: float
    # Step k (1-based) is in effect once now >= enqueued_at + relax_after[k-1].
    relax_after: tuple[float, ...]
    relax_drop: tuple[int, ...]
    # Cumulative: once preferred skills stop counting, they stay off.
    relax_drop_pref: tuple[bool, ...]
    esc_min_tier: tuple[int, ...]
    esc_bonus: float
    exclusive: tuple[bool, ...]  # per channel
    aht_seed: tuple[float, ...]  # per channel
    joint_limit: int
    w_scarcity: float = 0.0
    scarcity_horizon: float = 300.0
    sl_weight: float = 0.0
    sl_horizon: float = 1800.0
    # Per channel: the wait after which an interaction outranks any priority (inf: never).
    promote_after: tuple[float, ...] = (math.inf,) * N_CHANNELS
    on_time_first: bool = False

    @classmethod
    def from_policy(cls, policy: PolicyLike) -> CoreParams:
        w = policy.weights
        seeds = policy.handle_time_seconds
        bounds = policy.wait_bound_seconds
        drop_pref: list[bool] = []
        for step in policy.relaxation:
            drop_pref.append(step.drop_preferred or (bool(drop_pref) and drop_pref[-1]))
        return cls(
            w_skill=w.skill,
            w_pref=w.preferred_skill,
            w_tier=w.tier,
            w_idle=w.idle,
            w_aht=w.handle_time,
            w_sticky=w.sticky,
            w_urgency=w.urgency,
            idle_cap=policy.idle_cap_seconds,
            aht_ref=policy.handle_time_reference_seconds,
            aging_rate=policy.aging_rate,
            aging_cap=policy.aging_cap,
            relax_after=tuple(s.after_seconds for s in policy.relaxation),
            relax_drop=tuple(s.level_drop for s in policy.relaxation),
            relax_drop_pref=tuple(drop_pref),
            esc_min_tier=tuple(policy.escalation_min_tier) or (1,),
            esc_bonus=policy.escalation_bonus,
            exclusive=tuple(c in policy.exclusive_channels for c in range(N_CHANNELS)),
            aht_seed=tuple(float(seeds[c]) for c in range(N_CHANNELS)),  # type: ignore[index]
            joint_limit=policy.joint_batch_limit,
            w_scarcity=w.scarcity,
            scarcity_horizon=policy.scarcity_horizon_seconds,
            sl_weight=policy.service_level_weight,
            sl_horizon=policy.service_level_horizon_seconds,
            on_time_first=policy.on_time_first,
            promote_after=tuple(
                _promote_after(float(bounds[c]), policy.wait_bound_lead_seconds)  # type: ignore[index]
                for c in range(N_CHANNELS)
            ),
        )


# Urgency of an interaction past its wait bound: above any priority, bonus and aging (each
# at most a few thousand points), and growing with the wait so that those past it go first
# come, first served.
PROMOTED = 1e9


def late_aging(p: CoreParams, wait: float, target: float) -> float:
    """Aging of work past its target under `on_time_first`: below the most aging and boost
    work of its priority still within target can have, the longest past it first."""
    return -(p.aging_cap + p.sl_weight + 1.0) + (wait - target) / wait


def _promote_after(bound: float, lead: float) -> float:
    """The wait from which an interaction outranks any priority: its channel's bound less
    the lead (so that the next agent to free up takes it before the bound), inf for none."""
    if bound <= 0.0:
        return math.inf
    return max(0.0, bound - lead)
