"""The routing domain in plain Python: channels, agents, interactions and the policy."""

from cim_router.domain.agent import Agent, AgentState
from cim_router.domain.channel import CHANNELS, DEFAULT_CAPACITY, Channel
from cim_router.domain.interaction import Interaction, InteractionState, SkillRequirement
from cim_router.domain.policy import Policy, PolicyError, RelaxationStep, load_policy

__all__ = [
    "CHANNELS",
    "DEFAULT_CAPACITY",
    "Agent",
    "AgentState",
    "Channel",
    "Interaction",
    "InteractionState",
    "Policy",
    "PolicyError",
    "RelaxationStep",
    "SkillRequirement",
    "load_policy",
]
