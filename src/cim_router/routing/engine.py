"""One tenant's router: domain objects in, decisions out, the core underneath."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cim_router._core_common import ELIGIBLE, REASONS
from cim_router.core import Core, solve
from cim_router.domain.agent import Agent, AgentState
from cim_router.domain.channel import CHANNELS, Channel
from cim_router.domain.interaction import Interaction
from cim_router.domain.policy import Policy
from cim_router.routing.explain import (
    TERM_NAMES,
    Candidate,
    Explanation,
    explain,
    urgency_parts,
)
from cim_router.routing.skills import NameRegistry, SkillRegistry


@dataclass(frozen=True)
class Decision:
    """An interaction and the agent reserved for it, with why (greedy decisions)."""

    interaction_id: str
    agent_id: str
    explanation: Explanation | None


# Up to this many agents a decision records the full explanation (a scan over all agents);
# above it, only the winner's score terms, so that decisions stay cheap at scale.
EXPLAIN_SCAN_LIMIT = 256
# Eligibility codes a named transfer target may override: skills, tier, exclusion. Its
# state and capacity (exclusive channels included) are checked first and always apply.
SKILL_RULES = frozenset(REASONS.index(name) for name in ("skill_missing", "skill_level", "tier"))
EXCLUDED = REASONS.index("excluded")


def joint_assignment(core: Core, now: float) -> list[tuple[str, str]]:
    """A maximum-total-value set of (interaction, agent) pairs, at most one per agent.

    The core supplies the candidates and their pair values (0 for an ineligible pair); the
    solver places min(rows, columns) pairs, so those worth 0 are dropped."""
    iids, aids = core.joint_candidates(now)
    if not iids or not aids:
        return []
    matrix = core.score_matrix(iids, aids, now)
    rows, cols = solve(matrix)
    return [(iids[r], aids[c]) for r, c in zip(rows, cols, strict=True) if matrix[r, c] > 0.0]


class Engine:
    """Translates agents and interactions into the core's numbers and runs decisions.

    The engine keeps no copies of agents or interactions: the core holds the routing index,
    the caller (the service, backed by the store) holds the truth.
    """

    def __init__(
        self,
        policy: Policy | None = None,
        on_decision: Callable[[float], None] | None = None,
    ) -> None:
        self.policy = policy or Policy()
        self.on_decision = on_decision  # told each decision's latency, in seconds
        self.core = Core(self.policy)
        self.skills = SkillRegistry()
        # Queue ids, interned apart from skill names: the core keeps gates in their own
        # tables, so a queue and a skill of the same name never meet.
        self.queues = NameRegistry()
        self._shares: dict[int, float] = {}  # gate -> the target share the core has

    # --- agents ---------------------------------------------------------------------------

    def upsert_agent(
        self, agent: Agent, queues: Mapping[str, tuple[int, float]] | None = None
    ) -> None:
        """Index an agent (again). `queues` is its routing profile: queue id -> (rank, delay
        seconds). Work enqueued to a queue goes only to agents whose profile has it, each
        once the work has waited that agent's delay; a freed agent takes its lowest-ranked
        queue's work first (rank 1..255; work with no queue comes before any). The profile
        is replaced on every upsert: leaving it out leaves the agent serving no queue."""
        gates = [(self.queues.id(q), rank, delay) for q, (rank, delay) in (queues or {}).items()]
        self.core.upsert_agent(
            agent.id,
            agent.tier,
            [(self.skills.id(name), level) for name, level in agent.skills.items()],
            [agent.capacity_of(c) for c in CHANNELS],
            int(agent.state),
            [agent.load_of(c) for c in CHANNELS],
            agent.idle_since,
            gates,
        )
        for (skill, channel), seconds in agent.handle_time.items():
            self.set_handle_time(agent.id, channel, skill, seconds)

    def remove_agent(self, agent_id: str) -> bool:
        return self.core.remove_agent(agent_id)

    def set_agent_state(self, agent_id: str, state: AgentState, idle_since: float) -> None:
        self.core.set_agent_state(agent_id, int(state), idle_since)

    def set_agent_load(self, agent_id: str, channel: Channel, load: int) -> None:
        self.core.set_agent_load(agent_id, int(channel), load)

    def set_handle_time(self, agent_id: str, channel: Channel, skill: str, seconds: float) -> None:
        """Predicted handle time for a skill on a channel; skill "" means the whole channel."""
        self.core.set_handle_time(
            agent_id, int(channel), self.skills.id(skill) if skill else -1, seconds
        )

    # --- interactions ---------------------------------------------------------------------

    def enqueue(
        self,
        interaction: Interaction,
        queue: str | None = None,
        *,
        target: tuple[float, float] | None = None,
        arrival: bool = False,
    ) -> None:
        """Index a waiting interaction (again, after a reject, with its original enqueue time),
        in the named queue if one is given (see `upsert_agent`'s `queues`).

        `target` is the queue's service-level target, (seconds, share): the seconds age the
        interaction unless it has its own, and the queue's recent service level against the
        share raises its work's urgency. `arrival` counts it in the demand the scarcity term
        weighs: true once per interaction, when it first enters routing."""
        policy = self.policy
        tier = policy.customer_tier(interaction.customer_tier)
        seconds = target[0] if target is not None else policy.sla_seconds[interaction.channel]
        sla = interaction.sla_seconds or seconds
        gate = -1 if queue is None else self.queues.id(queue)
        if gate >= 0 and target is not None and self._shares.get(gate) != target[1]:
            self.core.set_gate_target(gate, target[1])
            self._shares[gate] = target[1]
        self.core.add_interaction(
            interaction.id,
            int(interaction.channel),
            self.skills.requirements(interaction.required),
            self.skills.requirements(interaction.preferred),
            float(interaction.priority),
            tier.bonus,
            tier.target_agent_tier,
            interaction.escalation_level,
            sla,
            interaction.enqueued_at,
            interaction.preferred_agent,
            interaction.excluded_agents,
            gate,
        )
        if arrival:
            self.core.count_arrival(interaction.id, interaction.enqueued_at)

    def remove(self, interaction_id: str) -> bool:
        return self.core.remove_interaction(interaction_id)

    def abandon(self, interaction_id: str, now: float) -> bool:
        """Take out a waiting interaction whose customer left, counting it in its queue's
        recent service level (a miss once it has waited past its target)."""
        if not self.core.is_waiting(interaction_id):
            return False
        self.core.count_outcome(interaction_id, now, False)
        return self.core.remove_interaction(interaction_id)

    def exclude(self, interaction_id: str, agent_id: str) -> None:
        self.core.exclude_agent(interaction_id, agent_id)

    # --- decisions ------------------------------------------------------------------------

    def best_agent(self, interaction_id: str, now: float) -> str | None:
        return self.core.best_agent(interaction_id, now)

    def best_interaction(self, agent_id: str, now: float) -> str | None:
        return self.core.best_interaction(agent_id, now)

    def is_waiting(self, interaction_id: str) -> bool:
        return self.core.is_waiting(interaction_id)

    def queue_position(self, interaction_id: str, now: float) -> int:
        """1-based place of a waiting interaction in service order."""
        return self.core.queue_position(interaction_id, now)

    def urgency(self, interaction_id: str, now: float) -> float:
        """A waiting interaction's urgency: service order is by it, highest first."""
        return self.core.urgency(interaction_id, now)

    def queue_order(self, now: float) -> list[str]:
        """The waiting interactions' ids in service order."""
        return self.core.queue_order(now)

    def _timed(
        self, decide: Callable[[str, float], str | None], key: str, now: float
    ) -> str | None:
        if self.on_decision is None:
            return decide(key, now)
        start = time.perf_counter()
        found = decide(key, now)
        self.on_decision(time.perf_counter() - start)
        return found

    def _reserve(self, interaction_id: str, agent_id: str, now: float) -> Decision:
        explanation = self.capture(interaction_id, agent_id, now)
        self.core.count_outcome(interaction_id, now, True)
        self.core.reserve(interaction_id, agent_id)
        return Decision(interaction_id, agent_id, explanation)

    def route_arrival(self, interaction_id: str, now: float) -> Decision | None:
        """The best eligible agent for a waiting interaction, reserved for it (out of the
        queue, counted in the agent's load); None if no agent may take it now."""
        if not self.core.is_waiting(interaction_id):
            return None
        best = self._timed(self.core.best_agent, interaction_id, now)
        return None if best is None else self._reserve(interaction_id, best, now)

    def route_freed(self, agent_id: str, now: float) -> Decision | None:
        """The first waiting interaction in service order that an agent with room may take,
        reserved for it; None if there is none."""
        if not self.core.has_agent(agent_id) or not self.core.waiting_count():
            return None
        best = self._timed(self.core.best_interaction, agent_id, now)
        return None if best is None else self._reserve(best, agent_id, now)

    def joint_due(self) -> bool:
        """Whether an arrival or a freed agent should be matched jointly: the policy asks for
        joint matching and several interactions wait with several agents free (with one of
        either, the greedy decision is the joint one)."""
        core = self.core
        return (
            self.policy.matching == "joint"
            and core.waiting_count() > 1
            and core.agents_with_room() > 1
        )

    def match_waiting(self, now: float) -> list[Decision]:
        """Match waiting interactions to agents with room, and reserve each pair in the index.

        Greedy mode serves interactions in queue order, each to its best agent; joint mode
        maximises the total pair value in assignments of one interaction per agent, repeated
        while agents with room still match. Each returned decision is already out of the
        queue and counted in the agent's load; the caller offers it.
        """
        if not self.core.waiting_count() or not self.core.agents_with_room():
            return []
        decisions: list[Decision] = []
        if self.policy.matching == "joint":
            # One assignment gives each agent one interaction; an agent with room for more
            # (chats) takes part again until nothing more matches.
            while pairs := joint_assignment(self.core, now):
                for interaction_id, agent_id in pairs:
                    self.core.count_outcome(interaction_id, now, True)
                    self.core.reserve(interaction_id, agent_id)
                decisions.extend(Decision(i, a, None) for i, a in pairs)
            return decisions
        for interaction_id in self.core.queue_order(now):
            best = self._timed(self.core.best_agent, interaction_id, now)
            if best is not None:
                decisions.append(self._reserve(interaction_id, best, now))
        return decisions

    def explain(self, interaction_id: str, now: float) -> Explanation:
        return explain(self.core, interaction_id, now)

    def capture(self, interaction_id: str, agent_id: str, now: float) -> Explanation:
        """Why `agent_id` was chosen, recorded before the reservation changes the index."""
        core = self.core
        if core.agent_count() <= EXPLAIN_SCAN_LIMIT:
            return self.explain(interaction_id, now)
        terms = core.score_terms(interaction_id, agent_id, now)
        return Explanation(
            interaction_id=interaction_id,
            at=now,
            relaxation_step=core.relaxation_step(interaction_id, now),
            agents_considered=core.agent_count(),
            eligible=0,
            winner=Candidate(agent_id, terms[-1], dict(zip(TERM_NAMES, terms[:-1], strict=True))),
            urgency=core.urgency(interaction_id, now),
            parts=urgency_parts(core, interaction_id, now),
        )

    def check_target(
        self, interaction: Interaction, agent_id: str, now: float, ignore_skills: bool = False
    ) -> str:
        """Whether a named agent may take an interaction that is not waiting (a transfer
        target): "" if so, else the reason ("no_capacity", "skill_missing", ...).

        The same rules as routing, from the same index: the interaction is indexed for the
        question and taken out again, in no queue, so queue gates do not apply to it."""
        if self.core.is_waiting(interaction.id):
            raise ValueError(f"interaction {interaction.id!r} is waiting; route it instead")
        self.enqueue(interaction)
        try:
            code = self.core.eligibility(interaction.id, agent_id, now)
        finally:
            self.core.remove_interaction(interaction.id)
        if code == ELIGIBLE or (ignore_skills and (code in SKILL_RULES or code == EXCLUDED)):
            return ""
        return REASONS[code]
