"""The pure-Python twin's records of an agent and a waiting interaction, and its argument
checks (the compiled core keeps the same data in C arrays, core_c/storage.pxi)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cim_router._core_common import MAX_LEVEL, MAX_SKILL_ID, MAX_STATE, N_CHANNELS


@dataclass
class AgentEntry:
    id: str
    tier: int
    skills: dict[int, int]
    capacity: list[int]
    state: int
    load: list[int]
    idle_since: float
    aht_channel: list[float] = field(default_factory=lambda: [0.0] * N_CHANNELS)
    aht_skill: dict[tuple[int, int], float] = field(default_factory=dict)
    gates: dict[int, tuple[int, float]] = field(default_factory=dict)  # gate -> rank, delay


@dataclass
class WaitingEntry:
    id: str
    seq: int
    channel: int
    required: tuple[tuple[int, int], ...]
    preferred: tuple[tuple[int, int], ...]
    base: float  # priority + customer-tier bonus + escalation bonus
    target_tier: int
    min_tier: int
    aging_per_second: float  # aging_rate / SLA seconds
    enqueued_at: float
    preferred_agent: str
    excluded: set[str]
    gate: int = -1
    sla: float = 0.0  # its service-level target, seconds


def check_state(state: int) -> None:
    if not 0 <= state <= MAX_STATE:
        raise ValueError(f"state must be 0..{MAX_STATE}, got {state}")


def check_channel(channel: int) -> None:
    if not 0 <= channel < N_CHANNELS:
        raise ValueError(f"channel must be 0..{N_CHANNELS - 1}, got {channel}")


def check_skills(what: str, skills: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    out = tuple((int(s), int(level)) for s, level in skills)
    for s, level in out:
        if s > MAX_SKILL_ID:
            raise ValueError(f"skill id {s} is too large")
        if s < 0 or not 1 <= level <= MAX_LEVEL:
            raise ValueError(f"{what}: skill ids are >= 0 and levels 1..{MAX_LEVEL}")
    if len({s for s, _ in out}) != len(out):
        raise ValueError(f"{what}: a skill is listed twice")
    return out
