"""The raw figures of one simulated day, for results.py to turn into measures."""

from __future__ import annotations

from dataclasses import dataclass

from cim_router.tenant.measures import Tally


@dataclass
class DayFigures:
    """Raw figures of one simulated day, for results.py to turn into measures."""

    intervals: int
    tallies: list[Tally]  # per interval, as the router counted them (tenant/measures.py)
    measured: Tally  # after the warm-up, the drain included
    waited: list[int]  # per interval: measured arrivals that waited (wait > 0)
    outcomes: list[int]  # ... that were answered, hung up or ended by a rule
    max_wait: list[float]
    busy: list[float]  # seat-seconds held or offered
    staffed: list[float]  # seat-seconds on duty
    queue: list[float]  # interaction-seconds waiting
    interval_seconds: float
    group_busy: list[float]
    group_staffed: list[float]
    agent_occupancy: dict[int, list[float]]  # group -> each agent's occupancy
    busy_by_group: list[list[float]]  # [group][interval] seat-seconds held or offered
    staffed_by_group: list[list[float]]  # [group][interval] seat-seconds on duty
    interactions: int  # measured arrivals
    total_waited: int  # measured arrivals that waited
    total_outcomes: int  # ... that were answered, hung up or ended by a rule
    total_max_wait: float  # ... the longest wait
    simulated_seconds: float
    # Per queue (the router's tallies of each queue, every channel, after the warm-up) and
    # the longest wait of the measured arrivals of each stream's queue.
    queue_tallies: dict[str, Tally]
    queue_max_wait: dict[str, float]
    stale: int  # operations the router refused (an answer to an offer already gone)
    blocked: int = 0  # arrivals refused (a full queue), in no other figure
    rejected: int = 0  # offers rejected
    expired: int = 0  # offers left to expire
    checks: int = 0  # work-conservation checks made
