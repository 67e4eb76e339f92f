"""Run every policy of a comparison on the same replications (common random numbers):
replication by replication, each run sees the same customers and agents' answers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from cim_router.domain.policy import Policy
from cim_router.simulate.driver import simulate_day
from cim_router.simulate.figures import DayFigures
from cim_router.simulate.results import RunSummary, compare, summarize
from cim_router.simulate.scenario import Scenario, check_queues

PROGRESS_SECONDS = 5.0  # a long day says how far it has come this often


@dataclass(frozen=True)
class Run:
    """One column of the comparison: a name, its policy, and whether agents are drawn at
    random among the eligible (the random baseline)."""

    name: str
    policy: Policy
    random_choice: bool = False


@dataclass
class Outcome:
    summaries: list[RunSummary]
    interrupted: bool
    replications: int  # replications every run finished
    wall_seconds: float
    interactions: int  # simulated, over every run and replication


def run_all(
    scenario: Scenario,
    runs: list[Run],
    replications: int,
    seed: int,
    baseline: str = "",
    check: bool = False,
    progress: TextIO | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> Outcome:
    """Simulate each run `replications` times; the runs are compared with `baseline` (its
    name), else with the first run."""
    for run in runs:
        check_queues(scenario, run.policy.queues, f"policy {run.name!r}")
    days: dict[str, list[DayFigures]] = {run.name: [] for run in runs}
    start = time.perf_counter()
    total = 0
    done = 0
    for rep in range(replications):
        for run in runs:
            if stop():
                break
            t0 = time.perf_counter()
            label = f"replication {rep + 1}/{replications} {run.name}"
            watched = stop if progress is None else _watching(stop, label, progress)
            day = asyncio.run(
                simulate_day(scenario, run.policy, seed, rep, run.random_choice, check, watched)
            )
            days[run.name].append(day)
            total += day.interactions
            if progress is not None:
                took = time.perf_counter() - t0
                print(
                    f"replication {rep + 1}/{replications} {run.name}: "
                    f"{day.interactions} interactions in {took:.1f} s",
                    file=progress,
                    flush=True,
                )
        if stop():
            break
        done += 1
    groups = [g.name for g in scenario.agents]
    summaries = [summarize(run.name, days[run.name], groups) for run in runs]
    reference = next((s for s in summaries if s.name == baseline), None)
    if reference is None and len(summaries) > 1:
        reference = summaries[0]
    for s in summaries:
        if reference is not None and s is not reference:
            compare(s, reference)
    return Outcome(summaries, stop(), done, time.perf_counter() - start, total)


def _watching(stop: Callable[[], bool], label: str, progress: TextIO) -> Callable[[], bool]:
    """`stop`, asked once per simulated event, that also says every few seconds of a long
    day how far it has come."""
    events = 0
    last = time.perf_counter()

    def check() -> bool:
        nonlocal events, last
        events += 1
        if events % 4096 == 0 and time.perf_counter() - last >= PROGRESS_SECONDS:
            last = time.perf_counter()
            print(f"{label}: {events} events so far", file=progress, flush=True)
        return stop()

    return check
