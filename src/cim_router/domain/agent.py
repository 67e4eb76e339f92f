"""Agents: who can take work, how much of it, and how well."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from cim_router.domain.channel import DEFAULT_CAPACITY, Channel
from cim_router.domain.errors import ValidationError
from cim_router.domain.limits import (
    MAX_CAPACITY,
    MAX_DISPLAY_NAME_LENGTH,
    MAX_PROFICIENCY,
    MAX_REASON_LENGTH,
    MAX_SKILLS_PER_AGENT,
    MAX_TIER,
    MIN_PROFICIENCY,
    MIN_TIER,
    check_count,
    check_id,
    check_skill_name,
    check_text,
    shown,
)
from cim_router.domain.queues import Membership, check_profile


class AgentState(enum.IntEnum):
    """An agent's presence; only AVAILABLE agents are offered work."""

    OFFLINE = 0
    AVAILABLE = 1
    NOT_READY = 2
    WRAP_UP = 3


def check_skills(field: str, skills: Mapping[str, int]) -> None:
    """An agent's skills: at most 64, names 1..64 printable characters, proficiency 1..10."""
    check_count(field, skills, MAX_SKILLS_PER_AGENT, "skills")
    for name, level in skills.items():
        where = f"{field}[{shown(name)}]"
        check_skill_name(where, name)
        if not MIN_PROFICIENCY <= level <= MAX_PROFICIENCY:
            raise ValidationError(
                where, f"proficiency must be {MIN_PROFICIENCY}..{MAX_PROFICIENCY}, got {level}"
            )


@dataclass
class Agent:
    """An agent as the router sees it."""

    id: str
    display_name: str = ""
    skills: dict[str, int] = field(default_factory=dict)
    tier: int = 1
    capacity: dict[Channel, int] = field(default_factory=lambda: dict(DEFAULT_CAPACITY))
    state: AgentState = AgentState.OFFLINE
    not_ready_reason: str = ""
    load: dict[Channel, int] = field(default_factory=dict)
    idle_since: float = 0.0
    # Predicted handle time in seconds, keyed by (skill, channel); skill "" means any skill.
    handle_time: dict[tuple[str, Channel], float] = field(default_factory=dict)
    # The queues the agent serves (queue id -> membership), in the order given; empty: all.
    routing_profile: dict[str, Membership] = field(default_factory=dict)

    def serves(self, queue_id: str) -> bool:
        return not self.routing_profile or queue_id in self.routing_profile

    def validate(self) -> None:
        """Raise ValidationError naming the first bad field."""
        check_id("agent.id", self.id)
        check_text("agent.display_name", self.display_name, MAX_DISPLAY_NAME_LENGTH)
        check_skills("agent.skills", self.skills)
        if not MIN_TIER <= self.tier <= MAX_TIER:
            raise ValidationError("agent.tier", f"must be {MIN_TIER}..{MAX_TIER}, got {self.tier}")
        check_text("agent.not_ready_reason", self.not_ready_reason, MAX_REASON_LENGTH)
        for channel, cap in self.capacity.items():
            if not 0 <= cap <= MAX_CAPACITY:
                raise ValidationError(
                    f"agent.capacity[{channel.name.lower()}]",
                    f"must be 0..{MAX_CAPACITY}, got {cap}",
                )
        check_profile(self.routing_profile, "agent.routing_profile")
        for (_skill, channel), seconds in self.handle_time.items():
            if not seconds > 0:
                raise ValidationError(
                    f"agent.handle_time[{channel.name.lower()}]", f"must be > 0, got {seconds}"
                )

    def capacity_of(self, channel: Channel) -> int:
        return self.capacity.get(channel, 0)

    def load_of(self, channel: Channel) -> int:
        return self.load.get(channel, 0)
