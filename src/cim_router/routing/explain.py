"""Why a decision came out as it did: candidates, exclusions, and the winning score terms."""

from __future__ import annotations

from dataclasses import dataclass, field

from cim_router._core_common import ELIGIBLE, REASONS
from cim_router.core import Core

TERM_NAMES = ("skill", "preferred_skill", "tier", "idle", "handle_time", "sticky", "scarcity")


@dataclass(frozen=True)
class Candidate:
    agent_id: str
    score: float
    terms: dict[str, float]


@dataclass(frozen=True)
class Explanation:
    interaction_id: str
    at: float
    relaxation_step: int
    urgency: float
    agents_considered: int
    eligible: int
    exclusions: dict[str, int] = field(default_factory=dict)
    winner: Candidate | None = None
    runner_up: Candidate | None = None
    parts: UrgencyParts = field(default_factory=lambda: UrgencyParts())


@dataclass(frozen=True)
class UrgencyParts:
    """What `urgency` is made of: priority with its bonuses (base), aging, the queue's
    service-level boost; once the wait bound is reached, urgency is PROMOTED + the wait,
    above any priority, and the other parts no longer count."""

    base: float = 0.0
    aging: float = 0.0
    service_level_boost: float = 0.0
    wait_bound_reached: bool = False


def urgency_parts(core: Core, interaction_id: str, now: float) -> UrgencyParts:
    base, aging, boost, past = core.urgency_terms(interaction_id, now)
    return UrgencyParts(base, aging, boost, past >= 0.0)


def explain(core: Core, interaction_id: str, now: float) -> Explanation:
    """Explain the arrival decision for a waiting interaction, as `best_agent` makes it.

    A full scan over the tenant's agents, in the core (Engine.capture makes it at each
    decision in tenants of up to EXPLAIN_SCAN_LIMIT agents).
    """
    counts, best = core.rank_candidates(interaction_id, now)
    exclusions = {REASONS[code]: n for code, n in enumerate(counts) if n and code != ELIGIBLE}

    def candidate(k: int) -> Candidate | None:
        if k >= len(best):
            return None
        agent_id = best[k]
        terms = core.score_terms(interaction_id, agent_id, now)
        return Candidate(agent_id, terms[-1], dict(zip(TERM_NAMES, terms[:-1], strict=True)))

    return Explanation(
        interaction_id=interaction_id,
        at=now,
        relaxation_step=core.relaxation_step(interaction_id, now),
        agents_considered=sum(counts),
        eligible=counts[ELIGIBLE],
        exclusions=exclusions,
        winner=candidate(0),
        runner_up=candidate(1),
        urgency=core.urgency(interaction_id, now),
        parts=urgency_parts(core, interaction_id, now),
    )
