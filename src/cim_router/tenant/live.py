"""Live state of one tenant for its gauges and its statistics: what waits, for how long,
and who is busy. One definition, read by GetStats and by the metrics alike; it works on
plain lists of records, so any store can feed it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cim_router.domain.agent import AgentState
from cim_router.domain.channel import Channel
from cim_router.domain.interaction import InteractionState
from cim_router.tenant.records import AgentRecord, InteractionRecord

if TYPE_CHECKING:
    from cim_router.tenant.windows import MeasureRow

# Not yet connected to an agent: in the queue, or offered and not yet accepted.
WAITING_STATES = (InteractionState.QUEUED, InteractionState.OFFERED)


@dataclass(frozen=True)
class LiveSnapshot:
    """One tenant's live state at `at`; every map is keyed by what the metric labels say."""

    tenant: str
    at: float
    waiting_by_channel: Mapping[Channel, int] = field(default_factory=dict)
    # An interaction counts once under each skill it requires (raw skill names; the
    # metric folds unlisted ones into `other`, so one needing two of them counts twice).
    waiting_by_skill: Mapping[str, int] = field(default_factory=dict)
    longest_wait_by_channel: Mapping[Channel, float] = field(default_factory=dict)
    agents_by_state: Mapping[AgentState, int] = field(default_factory=dict)
    # Capacity and load of logged-in (not OFFLINE) agents, each channel on its own.
    staffed_capacity: Mapping[Channel, int] = field(default_factory=dict)
    busy_capacity: Mapping[Channel, int] = field(default_factory=dict)
    # The measures' rows (tenant/windows.py), when the snapshot is of a live router.
    measures: tuple[MeasureRow, ...] = ()
    queue_open: Mapping[str, bool] = field(default_factory=dict)  # queue id -> open now


def live_snapshot(
    tenant: str,
    waiting_records: Iterable[InteractionRecord],
    agent_records: Iterable[AgentRecord],
    now: float,
) -> LiveSnapshot:
    """Summarise waiting interactions and agents; `waiting_records` are those not yet
    connected to an agent (see `WAITING_STATES`)."""
    by_channel: dict[Channel, int] = {}
    by_skill: dict[str, int] = {}
    longest: dict[Channel, float] = {}
    for rec in waiting_records:
        i = rec.interaction
        by_channel[i.channel] = by_channel.get(i.channel, 0) + 1
        for skill in {req.skill for req in i.required}:
            by_skill[skill] = by_skill.get(skill, 0) + 1
        longest[i.channel] = max(longest.get(i.channel, 0.0), max(0.0, now - i.enqueued_at))
    by_state: dict[AgentState, int] = {}
    staffed: dict[Channel, int] = {}
    busy: dict[Channel, int] = {}
    for arec in agent_records:
        agent = arec.agent
        by_state[agent.state] = by_state.get(agent.state, 0) + 1
        if agent.state == AgentState.OFFLINE:
            continue
        for channel, cap in agent.capacity.items():
            staffed[channel] = staffed.get(channel, 0) + cap
        for channel, load in agent.load.items():
            busy[channel] = busy.get(channel, 0) + load
    return LiveSnapshot(tenant, now, by_channel, by_skill, longest, by_state, staffed, busy)
