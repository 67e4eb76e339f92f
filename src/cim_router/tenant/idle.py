"""Where an agent's `idle_since` moves: its place in line for longest-idle fairness (the
core's idle score term and its tie-break). The rule, per event, is in docs/service.md
("Idle time"); each function here is one kind of event, and its caller indexes the agent.
"""

from __future__ import annotations

from cim_router.domain.agent import AgentState
from cim_router.tenant.records import AgentRecord

# Of the idle time an agent has earned, the share it keeps when it rejects an offer or lets
# one expire: it did no work, so it does not start again from nothing (declining would buy
# the back of the line), nor keeps all of it (it would stay first however often it
# declines).
KEPT_ON_DECLINE = 0.5


def took_work(arec: AgentRecord, now: float) -> None:
    """The agent accepted an offer: behind those who have not taken work since. Only a
    multi-seat agent can be offered more meanwhile; it then goes round in turn."""
    arec.agent.idle_since = now


def finished_work(arec: AgentRecord, now: float) -> None:
    """A seat came back (work completed, cancelled, transferred away, a failed callback
    attempt): an AVAILABLE agent is free again from now; in another state its idle time
    starts when it becomes AVAILABLE."""
    if arec.agent.state == AgentState.AVAILABLE:
        arec.agent.idle_since = now


def became_available(arec: AgentRecord, since: float) -> None:
    """NOT_READY, OFFLINE or WRAP_UP to AVAILABLE: free from `since` (the end of wrap-up by
    its timer, else now). AVAILABLE again keeps its place."""
    if arec.agent.state != AgentState.AVAILABLE:
        arec.agent.idle_since = since


def declined(arec: AgentRecord, now: float) -> None:
    """A rejected or missed offer: it keeps `KEPT_ON_DECLINE` of the idle time earned."""
    agent = arec.agent
    earned = max(0.0, now - agent.idle_since)
    agent.idle_since = now - earned * KEPT_ON_DECLINE
