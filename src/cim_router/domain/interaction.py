"""Interactions: a waiting customer contact and what it needs from an agent."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from cim_router.domain.agent import MAX_PROFICIENCY, MIN_PROFICIENCY
from cim_router.domain.channel import Channel
from cim_router.domain.errors import ValidationError
from cim_router.domain.limits import check_id, check_skill_name

MAX_PRIORITY = 100
MAX_SKILLS_PER_INTERACTION = 8  # the core keeps required and preferred skills inline
MAX_ESCALATION_LEVEL = 10


class InteractionState(enum.IntEnum):
    QUEUED = 0
    OFFERED = 1
    ASSIGNED = 2
    WRAP_UP = 3
    COMPLETED = 4
    CANCELLED = 5


@dataclass(frozen=True)
class SkillRequirement:
    """A skill and the minimum proficiency an agent must hold in it."""

    skill: str
    min_level: int = 1


@dataclass
class Interaction:
    """One customer contact, from enqueue to completion."""

    id: str
    channel: Channel
    tenant: str = "default"
    customer_id: str = ""
    required: tuple[SkillRequirement, ...] = ()
    preferred: tuple[SkillRequirement, ...] = ()
    priority: int = 0
    customer_tier: str = "standard"
    sla_seconds: float = 0.0  # 0 means the policy's target for the channel
    enqueued_at: float = 0.0
    escalation_level: int = 0
    preferred_agent: str = ""
    excluded_agents: frozenset[str] = frozenset()
    context: dict[str, Any] = field(default_factory=dict)
    state: InteractionState = InteractionState.QUEUED

    def validate(self) -> None:
        """Raise ValidationError naming the first bad field."""
        check_id("interaction.id", self.id)
        for name, reqs in (("required", self.required), ("preferred", self.preferred)):
            if len(reqs) > MAX_SKILLS_PER_INTERACTION:
                raise ValidationError(
                    f"interaction.{name}", f"at most {MAX_SKILLS_PER_INTERACTION} skills"
                )
            seen: set[str] = set()
            for req in reqs:
                where = f"interaction.{name}[{req.skill!r}]"
                check_skill_name(where, req.skill)
                if req.skill in seen:
                    raise ValidationError(where, "listed twice")
                seen.add(req.skill)
                if not MIN_PROFICIENCY <= req.min_level <= MAX_PROFICIENCY:
                    raise ValidationError(
                        where,
                        f"min level must be {MIN_PROFICIENCY}..{MAX_PROFICIENCY}, "
                        f"got {req.min_level}",
                    )
        if not 0 <= self.priority <= MAX_PRIORITY:
            raise ValidationError(
                "interaction.priority", f"must be 0..{MAX_PRIORITY}, got {self.priority}"
            )
        if self.sla_seconds < 0:
            raise ValidationError("interaction.sla_seconds", "must be >= 0")
        if not 0 <= self.escalation_level <= MAX_ESCALATION_LEVEL:
            raise ValidationError(
                "interaction.escalation_level", f"must be 0..{MAX_ESCALATION_LEVEL}"
            )
        if self.preferred_agent:
            check_id("interaction.preferred_agent", self.preferred_agent)
        for agent_id in self.excluded_agents:
            check_id("interaction.excluded_agents", agent_id)
