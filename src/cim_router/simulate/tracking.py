"""What the driver tracks of each simulated agent and customer, and the day's figures
made of it: waits and outcomes, seats on duty and held."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cim_router.simulate.draws import AgentAnswers, Customer
from cim_router.simulate.scenario import Scenario
from cim_router.tenant.measures import Tally


@dataclass
class Agentry:
    """What the driver knows of one simulated agent."""

    id: str
    group: int
    index: int  # within its group: the first `on_duty(k)` of a group work interval k
    skills: dict[str, int]
    seats: int
    answers: AgentAnswers
    load: int = 0
    since: float = 0.0  # when `load` last changed
    busy: float = 0.0  # seat-seconds held or offered, within the measured window


@dataclass
class Fate:
    """One customer's outcome."""

    customer: Customer
    at: float  # enqueued, on the simulated clock (seconds from the start of the day)
    answered_at: float | None = None
    left_at: float | None = None  # hung up before an answer
    measured: bool = True  # arrived after the warm-up
    transferred: bool = False  # the first agent asked for a transfer


def sum_tallies(tallies: Iterable[Tally]) -> Tally:
    """The day's tally after the warm-up: its queues' together."""
    out = Tally()
    for t in tallies:
        out.add(t)
    return out


def overlap(a: float, b: float, lo: float, hi: float) -> float:
    return max(0.0, min(b, hi) - max(a, lo))


@dataclass
class Waits:
    """Per interval of arrival, and over the measured arrivals."""

    waited: list[int]  # arrivals that waited (wait > 0)
    outcomes: list[int]  # ... answered, hung up, or ended by a rule
    max_wait: list[float]
    count: int = 0  # measured arrivals
    total_waited: int = 0
    total_outcomes: int = 0
    total_max: float = 0.0
    queue_max: dict[str, float] = field(default_factory=dict)  # by the stream's queue


def waits(
    fates: Iterable[Fate], intervals: int, step: float, end: float, queues: Sequence[str]
) -> Waits:
    """Each customer's wait: until answered, gone, or `end` (still waiting); `queues` is
    each stream's queue."""
    w = Waits([0] * intervals, [0] * intervals, [0.0] * intervals)
    w.queue_max = dict.fromkeys(queues, 0.0)
    for fate in fates:
        k = min(intervals - 1, int(fate.customer.at // step))
        done = fate.answered_at if fate.answered_at is not None else fate.left_at
        wait = (end if done is None else done) - fate.at
        w.max_wait[k] = max(w.max_wait[k], wait)
        if done is not None:
            w.outcomes[k] += 1
            w.waited[k] += wait > 0
        if fate.measured:
            w.count += 1
            w.total_max = max(w.total_max, wait)
            queue = queues[fate.customer.stream]
            w.queue_max[queue] = max(w.queue_max[queue], wait)
            if done is not None:
                w.total_outcomes += 1
                w.total_waited += wait > 0
    return w


@dataclass
class Duty:
    staffed: list[float]  # per interval: seat-seconds on duty
    group_busy: list[float]  # per group, measured window: seat-seconds held or offered
    group_staffed: list[float]  # ... on duty
    staffed_by_group: list[list[float]]  # [group][interval] seat-seconds on duty
    occupancy: dict[int, list[float]] = field(default_factory=dict)  # each agent's


def duty(scenario: Scenario, agents: Iterable[Agentry], window: tuple[float, float]) -> Duty:
    """Seat-seconds on duty by interval and group (shifts by interval), and each agent's
    occupancy over the measured window."""
    n = scenario.intervals
    step = scenario.interval_seconds
    groups = len(scenario.agents)
    d = Duty([0.0] * n, [0.0] * groups, [0.0] * groups, [[0.0] * n for _ in range(groups)])
    for a in agents:
        group = scenario.agents[a.group]
        mine = 0.0
        for k in range(n):
            if a.index < group.on_duty(k):
                lo, hi = k * step, min(scenario.duration_seconds, (k + 1) * step)
                d.staffed[k] += a.seats * (hi - lo)
                d.staffed_by_group[a.group][k] += a.seats * (hi - lo)
                mine += a.seats * overlap(lo, hi, *window)
        d.group_busy[a.group] += a.busy
        d.group_staffed[a.group] += mine
        if mine > 0:
            d.occupancy.setdefault(a.group, []).append(a.busy / mine)
    return d
