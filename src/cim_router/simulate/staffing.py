"""`--staff-for 0.8/20`: per interval, the fewest agents that meet a service-level target
(80% answered within 20 s), starting from Erlang C and searching by simulation.

Erlang C sees one pooled queue per interval: the interval's arrivals of every stream, their
mean handle time plus the policy's wrap-up. The simulation then corrects what Erlang C
cannot know (skills, relaxation, patience, the backlog one interval leaves the next): each
round simulates the day with the staffing so far and adds agents to every interval below
the target; once all meet it, one round takes an agent from each interval that meets it
and keeps the cut where the target still holds. An interval meets the target when the
mean of its service level over the replications does (the router's service level, with
the policy's targets set to the given seconds). Agents are added to and taken from the
scenario's groups in proportion to their sizes.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TextIO

from cim_router.domain.policy import Policy
from cim_router.simulate.erlang import agents_for
from cim_router.simulate.results import Estimate
from cim_router.simulate.runner import Run, run_all
from cim_router.simulate.scenario import Scenario

MAX_ROUNDS = 12


def parse_target(text: str) -> tuple[float, float]:
    """ "0.8/20" (or "80/20"): the share to answer, and within how many seconds."""
    share, sep, seconds = text.partition("/")
    try:
        level, within = float(share), float(seconds)
    except ValueError:
        raise ValueError(f"{text!r}: expected SHARE/SECONDS, e.g. 0.8/20") from None
    if not sep:
        raise ValueError(f"{text!r}: expected SHARE/SECONDS, e.g. 0.8/20")
    if level > 1.0:
        level /= 100.0
    if not 0.0 < level < 1.0 or not 0.0 < within <= 86400.0:
        raise ValueError(f"{text!r}: the share is 0..1 (or 0..100), the seconds above 0")
    return level, within


def erlang_seed(scenario: Scenario, policy: Policy, target: float, seconds: float) -> list[int]:
    """Agents per interval by Erlang C on the interval's pooled arrivals."""
    out = []
    for k in range(scenario.intervals):
        rate = sum(s.rate(k) for s in scenario.arrivals) / 3600.0
        if rate <= 0:
            out.append(0)
            continue
        work = sum(
            s.rate(k) / 3600.0 * (s.handle_time_mean_seconds + policy.wrap_up_seconds[s.channel])
            for s in scenario.arrivals
        )
        out.append(agents_for(rate, work / rate, target, seconds))
    return out


def with_staffing(scenario: Scenario, totals: list[int]) -> Scenario:
    """The scenario with `totals[k]` agents on duty in interval k, shared among the groups
    in proportion to their sizes (largest remainder)."""
    sizes = [g.count for g in scenario.agents]
    whole = sum(sizes) or 1
    per_group: list[list[int]] = [[] for _ in sizes]
    for n in totals:
        shares = [n * size / whole for size in sizes]
        counts = [math.floor(x) for x in shares]
        order = sorted(range(len(sizes)), key=lambda g: counts[g] - shares[g])
        for g in order[: n - sum(counts)]:
            counts[g] += 1
        for g, c in enumerate(counts):
            per_group[g].append(c)
    groups = tuple(
        dataclasses.replace(group, count=max(counts), count_by_interval=tuple(counts))
        for group, counts in zip(scenario.agents, per_group, strict=True)
    )
    return dataclasses.replace(scenario, agents=groups)


@dataclass(frozen=True)
class Staffing:
    interval: int
    erlang_c: int
    agents: int
    service_level: Estimate | None


def _levels(
    scenario: Scenario, policy: Policy, totals: list[int], replications: int, seed: int
) -> list[Estimate | None]:
    outcome = run_all(
        with_staffing(scenario, totals), [Run("staffing", policy)], replications, seed
    )
    return [iv["service_level"] for iv in outcome.summaries[0].intervals]


def _meets(e: Estimate | None, target: float) -> bool:
    return e is None or e.mean >= target


def staff_for(
    scenario: Scenario,
    policy: Policy,
    target: float,
    seconds: float,
    replications: int,
    seed: int,
    progress: TextIO | None = None,
) -> list[Staffing]:
    policy = dataclasses.replace(policy, sla_seconds={c: seconds for c in policy.sla_seconds})
    seed_totals = erlang_seed(scenario, policy, target, seconds)
    totals = list(seed_totals)
    levels = _levels(scenario, policy, totals, replications, seed)
    for round_ in range(MAX_ROUNDS):
        short = [k for k, e in enumerate(levels) if not _meets(e, target)]
        if progress is not None:
            print(f"staffing round {round_ + 1}: {len(short)} interval(s) short", file=progress)
        if not short:
            break
        for k in short:
            e = levels[k]
            gap = target - (e.mean if e is not None else 0.0)
            totals[k] += max(1, math.ceil(totals[k] * gap / 2))
        levels = _levels(scenario, policy, totals, replications, seed)
    fewer = [max(0, n - 1) if _meets(levels[k], target) else n for k, n in enumerate(totals)]
    if fewer != totals:
        trial = _levels(scenario, policy, fewer, replications, seed)
        for k, n in enumerate(fewer):
            if n != totals[k] and _meets(trial[k], target):
                totals[k] = n
        levels = _levels(scenario, policy, totals, replications, seed)
    return [Staffing(k, seed_totals[k], totals[k], levels[k]) for k in range(scenario.intervals)]
