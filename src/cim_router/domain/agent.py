"""Agents: who can take work, how much of it, and how well."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from cim_router.domain.channel import DEFAULT_CAPACITY, Channel
from cim_router.domain.errors import ValidationError
from cim_router.domain.limits import check_id, check_skill_name

MIN_PROFICIENCY, MAX_PROFICIENCY = 1, 10
MIN_TIER, MAX_TIER = 1, 5
MAX_CAPACITY = 255  # the core stores load and capacity as one byte per channel


class AgentState(enum.IntEnum):
    """An agent's presence; only AVAILABLE agents are offered work."""

    OFFLINE = 0
    AVAILABLE = 1
    NOT_READY = 2
    WRAP_UP = 3


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

    def validate(self) -> None:
        """Raise ValidationError naming the first bad field."""
        check_id("agent.id", self.id)
        for name, level in self.skills.items():
            check_skill_name(f"agent.skills[{name!r}]", name)
            if not MIN_PROFICIENCY <= level <= MAX_PROFICIENCY:
                raise ValidationError(
                    f"agent.skills[{name!r}]",
                    f"proficiency must be {MIN_PROFICIENCY}..{MAX_PROFICIENCY}, got {level}",
                )
        if not MIN_TIER <= self.tier <= MAX_TIER:
            raise ValidationError("agent.tier", f"must be {MIN_TIER}..{MAX_TIER}, got {self.tier}")
        for channel, cap in self.capacity.items():
            if not 0 <= cap <= MAX_CAPACITY:
                raise ValidationError(
                    f"agent.capacity[{channel.name.lower()}]",
                    f"must be 0..{MAX_CAPACITY}, got {cap}",
                )
        for (_skill, channel), seconds in self.handle_time.items():
            if not seconds > 0:
                raise ValidationError(
                    f"agent.handle_time[{channel.name.lower()}]", f"must be > 0, got {seconds}"
                )

    def capacity_of(self, channel: Channel) -> int:
        return self.capacity.get(channel, 0)

    def load_of(self, channel: Channel) -> int:
        return self.load.get(channel, 0)
