"""Measures of simulated days, and their 95% confidence intervals over replications.

Service level, speed of answer, abandonment and handle time are the router's own
(tenant/measures.py, docs/measures.md), computed from the tallies the router itself kept
during the simulation. The simulator adds what the router does not count:

- `p_wait`: the share of measured arrivals with an outcome (answered, hung up, or ended by
  an overflow rule or the queue's maximum wait) that waited at all (wait > 0);
- `occupancy`: seat-seconds held or offered over seat-seconds on duty (the router's
  occupancy, `measures.occupancy`, integrated over the day; wrap-up holds no seat);
- `occupancy_spread`: the standard deviation of occupancy across the agents of a group
  (equally skilled agents), averaged over the groups by their size;
- `max_wait_seconds`: the longest wait of a measured arrival (until answered, hung up, or
  the end of the simulation);
- `queue_length`: interactions waiting, averaged over time;
- `interactions`: measured arrivals (after the warm-up) that got in line.

Per queue (`QUEUE_FIGURES`): the router's measures of each queue's own tallies (every
channel, after the warm-up), its counts of offered, answered and abandoned work, and the
longest wait of the arrivals the scenario enqueues in it. The queues' tallies add up to the
totals': the day's service level is the queues' pooled, not their mean.

Intervals: Student t over replications (half-width of the 95% interval); differences
between runs are paired, replication by replication, on common random numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from scipy.special import stdtrit

from cim_router.simulate.figures import DayFigures
from cim_router.tenant import measures
from cim_router.tenant.measures import Tally

FIGURES = (
    "service_level",
    "asa_seconds",
    "p_wait",
    "abandonment",
    "occupancy",
    "occupancy_spread",
    "aht_seconds",
    "max_wait_seconds",
    "queue_length",
    "interactions",
)
INTERVAL_FIGURES = (
    "service_level",
    "asa_seconds",
    "p_wait",
    "abandonment",
    "occupancy",
    "aht_seconds",
    "max_wait_seconds",
    "queue_length",
    "interactions",
)

QUEUE_FIGURES = (
    "service_level",
    "asa_seconds",
    "abandonment",
    "aht_seconds",
    "max_wait_seconds",
    "offered",
    "answered",
    "abandoned",
)

Values = dict[str, float | None]


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def _router_measures(t: Tally) -> Values:
    return {
        "service_level": measures.service_level(t),
        "asa_seconds": measures.average_speed_of_answer(t),
        "abandonment": measures.abandonment_rate(t),
        "aht_seconds": measures.average_handle_time(t),
    }


def _spread(f: DayFigures) -> float | None:
    total, weight = 0.0, 0
    for occupancies in f.agent_occupancy.values():
        if len(occupancies) < 2:
            continue
        mean = sum(occupancies) / len(occupancies)
        var = sum((x - mean) ** 2 for x in occupancies) / (len(occupancies) - 1)
        total += math.sqrt(var) * len(occupancies)
        weight += len(occupancies)
    return total / weight if weight else None


def day_totals(f: DayFigures) -> Values:
    """The whole day's figures (after the warm-up)."""
    out = _router_measures(f.measured)
    out["p_wait"] = _ratio(f.total_waited, f.total_outcomes)
    out["occupancy"] = _ratio(sum(f.group_busy), sum(f.group_staffed))
    out["occupancy_spread"] = _spread(f)
    out["max_wait_seconds"] = f.total_max_wait
    out["queue_length"] = _ratio(sum(f.queue), f.intervals * f.interval_seconds)
    out["interactions"] = float(f.interactions)
    return out


def queue_names(f: DayFigures) -> list[str]:
    """The day's queues: those the scenario's streams enqueue in, in their order, then any
    other the router counted work in (an overflow rule's target)."""
    return [*f.queue_max_wait, *(q for q in f.queue_tallies if q not in f.queue_max_wait)]


def day_queues(f: DayFigures) -> dict[str, Values]:
    """Each queue's figures for the whole day (after the warm-up)."""
    out: dict[str, Values] = {}
    for q in queue_names(f):
        t = f.queue_tallies.get(q, Tally())
        v = _router_measures(t)
        v["max_wait_seconds"] = f.queue_max_wait.get(q)
        v["offered"] = float(t.offered)
        v["answered"] = float(t.answered)
        v["abandoned"] = float(t.abandoned)
        out[q] = v
    return out


def day_intervals(f: DayFigures) -> list[Values]:
    out = []
    for k in range(f.intervals):
        v = _router_measures(f.tallies[k])
        v["p_wait"] = _ratio(f.waited[k], f.outcomes[k])
        v["occupancy"] = _ratio(f.busy[k], f.staffed[k])
        v["max_wait_seconds"] = f.max_wait[k]
        v["queue_length"] = f.queue[k] / f.interval_seconds
        v["interactions"] = float(f.tallies[k].offered)
        out.append(v)
    return out


def group_occupancy(f: DayFigures, group: int) -> float | None:
    return _ratio(f.group_busy[group], f.group_staffed[group])


@dataclass(frozen=True)
class Estimate:
    mean: float
    ci: float | None  # half-width of the 95% interval; None from one replication
    n: int


def estimate(values: Sequence[float | None]) -> Estimate | None:
    """Mean and Student-t 95% half-width of the values present; None if there are none."""
    xs = [x for x in values if x is not None and math.isfinite(x)]
    if not xs:
        return None
    n = len(xs)
    mean = sum(xs) / n
    if n < 2:
        return Estimate(mean, None, n)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    return Estimate(mean, float(stdtrit(n - 1, 0.975)) * sd / math.sqrt(n), n)


def paired(a: Sequence[float | None], b: Sequence[float | None]) -> Estimate | None:
    """The difference a - b, replication by replication."""
    return estimate([x - y for x, y in zip(a, b, strict=False) if x is not None and y is not None])


@dataclass
class RunSummary:
    """One policy's (or the baseline's) figures over its replications."""

    name: str
    days: list[DayFigures]
    totals: dict[str, Estimate | None] = field(default_factory=dict)
    per_day: dict[str, list[float | None]] = field(default_factory=dict)
    intervals: list[dict[str, Estimate | None]] = field(default_factory=list)
    groups: dict[str, dict[str, Estimate | None]] = field(default_factory=dict)
    # Per interval: each group's occupancy.
    interval_groups: list[dict[str, Estimate | None]] = field(default_factory=list)
    differences: dict[str, Estimate | None] = field(default_factory=dict)
    compared_with: str = ""
    # Per queue: the figures, each day's values, and the paired differences.
    queues: dict[str, dict[str, Estimate | None]] = field(default_factory=dict)
    per_day_queues: dict[str, dict[str, list[float | None]]] = field(default_factory=dict)
    queue_differences: dict[str, dict[str, Estimate | None]] = field(default_factory=dict)


def summarize(name: str, days: list[DayFigures], group_names: Sequence[str]) -> RunSummary:
    s = RunSummary(name, days)
    totals = [day_totals(d) for d in days]
    for fig in FIGURES:
        s.per_day[fig] = [t[fig] for t in totals]
        s.totals[fig] = estimate(s.per_day[fig])
    by_day = [day_queues(d) for d in days]
    for q in dict.fromkeys(q for d in days for q in queue_names(d)):
        values = {fig: [b[q][fig] if q in b else None for b in by_day] for fig in QUEUE_FIGURES}
        s.per_day_queues[q] = values
        s.queues[q] = {fig: estimate(values[fig]) for fig in QUEUE_FIGURES}
    if days:
        per = [day_intervals(d) for d in days]
        for k in range(days[0].intervals):
            s.intervals.append(
                {fig: estimate([p[k][fig] for p in per]) for fig in INTERVAL_FIGURES}
            )
            s.interval_groups.append(
                {
                    gname: estimate(
                        [_ratio(d.busy_by_group[g][k], d.staffed_by_group[g][k]) for d in days]
                    )
                    for g, gname in enumerate(group_names)
                }
            )
    for g, gname in enumerate(group_names):
        spread = []
        for d in days:
            occ = d.agent_occupancy.get(g, [])
            if len(occ) >= 2:
                m = sum(occ) / len(occ)
                spread.append(math.sqrt(sum((x - m) ** 2 for x in occ) / (len(occ) - 1)))
        s.groups[gname] = {
            "occupancy": estimate([group_occupancy(d, g) for d in days]),
            "occupancy_spread": estimate(spread),
        }
    return s


def compare(run: RunSummary, against: RunSummary) -> None:
    """Paired differences of `run` minus `against` on the replications both have."""
    run.compared_with = against.name
    for fig in FIGURES:
        run.differences[fig] = paired(run.per_day[fig], against.per_day[fig])
    for q, mine in run.per_day_queues.items():
        theirs = against.per_day_queues.get(q)
        if theirs is not None:
            run.queue_differences[q] = {
                fig: paired(mine[fig], theirs[fig]) for fig in QUEUE_FIGURES
            }
