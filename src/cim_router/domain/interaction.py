"""Interactions: a waiting customer contact and what it needs from an agent."""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cim_router.domain.channel import Channel
from cim_router.domain.errors import ValidationError
from cim_router.domain.limits import (
    MAX_CUSTOMER_TIER_LENGTH,
    MAX_PRIORITY,
    MAX_PROFICIENCY,
    MAX_SKILLS_PER_INTERACTION,
    MAX_SLA_SECONDS,
    MIN_PROFICIENCY,
    check_count,
    check_id,
    check_skill_name,
    check_text,
    is_skill_name,
)

# Re-exported: the service's escalation reads it from here.
from cim_router.domain.limits import MAX_ESCALATION_LEVEL as MAX_ESCALATION_LEVEL

DEFAULT_QUEUE = "default"  # every tenant has it: where work that names no queue goes


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


def check_requirements(field: str, reqs: Sequence[SkillRequirement]) -> None:
    """The rules of every list of skill requirements, wherever it comes from: at most 8,
    names 1..64 printable characters, each skill once, min levels 1..10. The compiled
    core relies on them."""
    if not reqs:  # most interactions prefer nothing: the one check that needs no loop
        return
    check_count(field, reqs, MAX_SKILLS_PER_INTERACTION, "skills")
    first_at: dict[str, int] = {}
    for k, req in enumerate(reqs):
        if not is_skill_name(req.skill):
            check_skill_name(f"{field}[{k}].skill", req.skill)  # raises, naming the entry
        if req.skill in first_at:
            raise ValidationError(
                f"{field}[{k}].skill",
                f"{req.skill!r} is listed twice (first at [{first_at[req.skill]}])",
            )
        first_at[req.skill] = k
        if not MIN_PROFICIENCY <= req.min_level <= MAX_PROFICIENCY:
            raise ValidationError(
                f"{field}[{k}].min_level",
                f"must be {MIN_PROFICIENCY}..{MAX_PROFICIENCY}, got {req.min_level}",
            )


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
    queue_id: str = DEFAULT_QUEUE  # the queue it waits (or waited) in

    def validate(self) -> None:
        """Raise ValidationError naming the first bad field."""
        check_id("interaction.id", self.id)
        check_requirements("interaction.required", self.required)
        check_requirements("interaction.preferred", self.preferred)
        if not 0 <= self.priority <= MAX_PRIORITY:
            raise ValidationError(
                "interaction.priority", f"must be 0..{MAX_PRIORITY}, got {self.priority}"
            )
        if not (math.isfinite(self.sla_seconds) and 0 <= self.sla_seconds <= MAX_SLA_SECONDS):
            raise ValidationError(
                "interaction.sla_seconds",
                f"must be a finite number 0..{MAX_SLA_SECONDS} (0 means the policy's target), "
                f"got {self.sla_seconds}",
            )
        check_text("interaction.customer_tier", self.customer_tier, MAX_CUSTOMER_TIER_LENGTH)
        if not 0 <= self.escalation_level <= MAX_ESCALATION_LEVEL:
            raise ValidationError(
                "interaction.escalation_level", f"must be 0..{MAX_ESCALATION_LEVEL}"
            )
        if self.preferred_agent:
            check_id("interaction.preferred_agent", self.preferred_agent)
        for agent_id in self.excluded_agents:
            check_id("interaction.excluded_agents", agent_id)
