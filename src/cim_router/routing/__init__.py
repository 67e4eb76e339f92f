"""Routing in domain terms: skill names, agents and interactions in; decisions out."""

from cim_router.routing.engine import Engine
from cim_router.routing.explain import Candidate, Explanation
from cim_router.routing.skills import SkillRegistry

__all__ = ["Candidate", "Engine", "Explanation", "SkillRegistry"]
