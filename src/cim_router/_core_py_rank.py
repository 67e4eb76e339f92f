"""The twin's ranking of every agent for one interaction, for Explain: the same scan the
compiled core makes in C (`core_c/decisions.pxi`), written with the public rules."""

from __future__ import annotations

from typing import Protocol

from cim_router._core_common import ELIGIBLE, REASONS


class _Rules(Protocol):
    def agent_ids(self) -> list[str]: ...
    def agent_idle_since(self, agent_id: str) -> float: ...
    def eligibility(self, interaction_id: str, agent_id: str, now: float) -> int: ...
    def score_terms(self, interaction_id: str, agent_id: str, now: float) -> tuple[float, ...]: ...


def rank_candidates(  # the twin's method: its Core is `self`
    self: _Rules, interaction_id: str, now: float
) -> tuple[list[int], list[str]]:
    """([how many agents each rule's code stops, by code; ELIGIBLE's: those it lets
    through], [the best two eligible agents' ids by score, longest idle, lowest id])."""
    counts = [0] * len(REASONS)
    ranked: list[tuple[float, float, str]] = []
    for agent_id in self.agent_ids():
        code = self.eligibility(interaction_id, agent_id, now)
        counts[code] += 1
        if code == ELIGIBLE:
            total = self.score_terms(interaction_id, agent_id, now)[-1]
            ranked.append((-total, self.agent_idle_since(agent_id), agent_id))
    ranked.sort()
    return counts, [agent_id for _, _, agent_id in ranked[:2]]
