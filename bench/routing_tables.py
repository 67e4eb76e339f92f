"""A policy against the longest-idle baseline on the bench's multi-skill scenarios, and the
four bars its routing is held to (bench/README.md, "Routing against longest-idle").

    python -m bench.routing_tables [--replications 10] [--seed 1] [--scenario NAME ...]

prints, per scenario, a Markdown table of the policy (`NAME.policy.toml`) and the baseline
on common random numbers, with 95% intervals and paired differences, then the bars:

1. overall service level at least `SERVICE_LEVEL_GAIN` above the baseline's (paired mean);
2. no queue's service level more than `QUEUE_LOSS` below the baseline's for that queue;
3. occupancy spread (across equally skilled agents) no wider than the baseline's;
4. no wait of any replication above the policy's wait bound (`wait_bound_seconds` of the
   channels the scenario uses, the largest); no bound, no bar.

bench/test_bench_routing.py runs the same comparison under pytest-benchmark.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cim_router.domain.policy import Policy, load_policy
from cim_router.simulate.baselines import longest_idle
from cim_router.simulate.results import Estimate, RunSummary
from cim_router.simulate.runner import Run, run_all
from cim_router.simulate.scenario import Scenario, load_scenario

DIRECTORY = Path(__file__).parent / "scenarios"
SCENARIOS = ("specialists_experts", "overlapping_pairs", "voice_chat_vip")
REPLICATIONS = 10
SEED = 1
SERVICE_LEVEL_GAIN = 0.03
QUEUE_LOSS = 0.02
POLICY, BASELINE = "policy", "longest-idle"


@dataclass(frozen=True)
class Bench:
    """One scenario of the bench: the day, the policy the router runs, its wait bound."""

    name: str
    scenario: Scenario
    policy: Policy
    wait_bound_seconds: float | None
    bound_from: str  # "policy" or "none"


def shortened(scenario: Scenario, hours: float) -> Scenario:
    """The first `hours` of the day: rates and shifts of the intervals kept."""
    if hours >= scenario.duration_hours:
        return scenario
    day = dataclasses.replace(scenario, duration_hours=hours)
    n = day.intervals
    return dataclasses.replace(
        day,
        warmup_minutes=min(scenario.warmup_minutes, hours * 60.0),
        agents=tuple(
            dataclasses.replace(g, count_by_interval=g.count_by_interval[:n])
            for g in scenario.agents
        ),
        arrivals=tuple(
            dataclasses.replace(a, rates_per_hour=a.rates_per_hour[:n])
            if len(a.rates_per_hour) > 1
            else a
            for a in scenario.arrivals
        ),
    )


def wait_bound(policy: Policy, scenario: Scenario) -> float | None:
    """The bound the fourth bar holds every wait to: the policy's `wait_bound_seconds` of
    the channels the scenario's arrivals use, the largest of them; none if none is set."""
    bounds = [policy.wait_bound_seconds[a.channel] for a in scenario.arrivals]
    return max(bounds) if bounds and min(bounds) > 0 else None


def load_bench(name: str, hours: float | None = None) -> Bench:
    scenario = load_scenario(DIRECTORY / f"{name}.toml")
    if hours is not None:
        scenario = shortened(scenario, hours)
    policy = load_policy(DIRECTORY / f"{name}.policy.toml")
    bound = wait_bound(policy, scenario)
    return Bench(name, scenario, policy, bound, "policy" if bound is not None else "none")


@dataclass
class Comparison:
    bench: Bench
    policy: RunSummary
    baseline: RunSummary
    baseline_policy: Policy
    replications: int
    interactions: int  # simulated, both runs
    wall_seconds: float


def compare(bench: Bench, replications: int = REPLICATIONS, seed: int = SEED) -> Comparison:
    """The policy and longest-idle (the policy's queues, targets and wrap-up, longest-idle
    agent choice, FIFO) on the same replications, as `cim-router simulate --baseline
    longest-idle` runs them."""
    baseline = longest_idle(bench.policy)
    runs = [Run(POLICY, bench.policy), Run(BASELINE, baseline)]
    out = run_all(bench.scenario, runs, replications, seed, baseline=BASELINE)
    mine, theirs = out.summaries
    return Comparison(
        bench, mine, theirs, baseline, out.replications, out.interactions, out.wall_seconds
    )


@dataclass(frozen=True)
class Bars:
    service_level_gain: Estimate | None  # policy - baseline, paired
    worst_queue: str
    worst_queue_gain: Estimate | None  # the queue with the lowest paired mean
    spread: float | None  # the policy's occupancy spread (mean over replications)
    baseline_spread: float | None
    max_wait_seconds: float  # the longest wait of any replication under the policy
    wait_bound_seconds: float | None
    # Queues whose longest wait (any replication) passed the bound of their channel.
    over_bound: tuple[str, ...] = ()

    def failures(self) -> list[str]:
        """The bars missed, each in a sentence; none when all are met."""
        out = []
        gain = self.service_level_gain
        if gain is None or gain.mean < SERVICE_LEVEL_GAIN:
            out.append(f"service level gain {_pp(gain)} < {100 * SERVICE_LEVEL_GAIN:g} points")
        worst = self.worst_queue_gain
        if worst is None or worst.mean < -QUEUE_LOSS:
            out.append(
                f"queue {self.worst_queue}: service level {_pp(worst)} "
                f"< -{100 * QUEUE_LOSS:g} points"
            )
        if self.spread is None or self.baseline_spread is None:
            out.append("no occupancy spread")
        elif self.spread > self.baseline_spread:
            out.append(
                f"occupancy spread {100 * self.spread:.2f}% wider than "
                f"longest-idle's {100 * self.baseline_spread:.2f}%"
            )
        bound = self.wait_bound_seconds
        if bound is not None and self.max_wait_seconds > bound:
            out.append(f"longest wait {self.max_wait_seconds:.0f} s > bound {bound:g} s")
        if self.over_bound:
            out.append(f"waits past their channel's bound in {', '.join(self.over_bound)}")
        return out


def _pp(e: Estimate | None) -> str:
    if e is None:
        return "none"
    text = f"{100 * e.mean:+.2f}"
    return text + (f" ±{100 * e.ci:.2f}" if e.ci is not None else "") + " points"


def _mean(e: Estimate | None) -> float | None:
    return None if e is None else e.mean


def bars(c: Comparison) -> Bars:
    gains = {q: figs["service_level"] for q, figs in c.policy.queue_differences.items()}
    present = {q: g for q, g in gains.items() if g is not None}
    worst = min(present, key=lambda q: present[q].mean) if present else ""
    waits = [w for w in c.policy.per_day["max_wait_seconds"] if w is not None]
    channel = {a.queue or "default": a.channel for a in c.bench.scenario.arrivals}
    bounds = c.bench.policy.wait_bound_seconds
    over = tuple(
        q
        for q, days in c.policy.per_day_queues.items()
        if q in channel
        and bounds[channel[q]] > 0
        and max((w for w in days.get("max_wait_seconds", []) if w is not None), default=0.0)
        > bounds[channel[q]]
    )
    return Bars(
        over_bound=over,
        service_level_gain=c.policy.differences["service_level"],
        worst_queue=worst,
        worst_queue_gain=present.get(worst),
        spread=_mean(c.policy.totals["occupancy_spread"]),
        baseline_spread=_mean(c.baseline.totals["occupancy_spread"]),
        max_wait_seconds=max(waits, default=0.0),
        wait_bound_seconds=c.bench.wait_bound_seconds,
    )


def extra_info(c: Comparison, b: Bars) -> dict[str, Any]:
    """The figures a benchmark records (`benchmark.extra_info`)."""

    def est(e: Estimate | None) -> list[float | None] | None:
        return None if e is None else [_round(e.mean), _round(e.ci)]

    out: dict[str, Any] = {
        "scenario": c.bench.name,
        "replications": c.replications,
        "interactions": c.interactions,
        "interactions_per_second": round(c.interactions / c.wall_seconds) if c.wall_seconds else 0,
        "service_level_gain": est(b.service_level_gain),
        "worst_queue": b.worst_queue,
        "worst_queue_gain": est(b.worst_queue_gain),
        "occupancy_spread": _round(b.spread),
        "baseline_occupancy_spread": _round(b.baseline_spread),
        "max_wait_seconds": _round(b.max_wait_seconds),
        "wait_bound_seconds": b.wait_bound_seconds,
        "wait_bound_from": c.bench.bound_from,
        "bars_missed": b.failures(),
    }
    for run in (c.policy, c.baseline):
        out[run.name] = {
            "service_level": est(run.totals["service_level"]),
            "occupancy": est(run.totals["occupancy"]),
            "queues": {q: est(figs["service_level"]) for q, figs in run.queues.items()},
        }
    return out


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


# --- the tables ------------------------------------------------------------------------------

PERCENT = frozenset({"service_level", "abandonment", "occupancy", "occupancy_spread"})


def _cell(e: Estimate | None, fig: str, signed: bool = False) -> str:
    if e is None or not math.isfinite(e.mean):
        return "-"
    scale, digits = (100.0, 1) if fig in PERCENT else (1.0, 1)
    sign = "+" if signed else ""
    text = f"{e.mean * scale:{sign}.{digits}f}"
    return text + (f" ± {e.ci * scale:.{digits}f}" if e.ci is not None else "")


ROWS = (
    ("service_level", "service level %"),
    ("asa_seconds", "ASA s"),
    ("abandonment", "abandonment %"),
    ("occupancy", "occupancy %"),
    ("occupancy_spread", "occupancy spread %"),
    ("max_wait_seconds", "longest wait s"),
)
QUEUE_ROWS = (
    ("service_level", "service level %"),
    ("asa_seconds", "ASA s"),
    ("abandonment", "abandonment %"),
    ("max_wait_seconds", "longest wait s"),
)


def markdown(c: Comparison) -> str:
    """One scenario: policy and longest-idle side by side, the paired difference, the bars."""
    p, q = c.policy, c.baseline
    lines = [
        f"### {c.bench.name} ({c.replications} replications, "
        f"{c.interactions // (2 * max(1, c.replications)):,} interactions a day)",
        "",
        f"| figure | {POLICY} | {BASELINE} | {POLICY} - {BASELINE} |",
        "|---|---:|---:|---:|",
    ]
    for fig, label in ROWS:
        row = [label, _cell(p.totals[fig], fig), _cell(q.totals[fig], fig)]
        lines.append("| " + " | ".join([*row, _cell(p.differences[fig], fig, True)]) + " |")
    for queue, figs in p.queues.items():
        theirs = q.queues.get(queue, {})
        diff = p.queue_differences.get(queue, {})
        for fig, label in QUEUE_ROWS:
            row = [f"{queue}: {label}", _cell(figs[fig], fig), _cell(theirs.get(fig), fig)]
            lines.append("| " + " | ".join([*row, _cell(diff.get(fig), fig, True)]) + " |")
    b = bars(c)
    bound = "none" if b.wait_bound_seconds is None else f"{b.wait_bound_seconds:g} s"
    lines += [
        "",
        f"Bars: service level {_pp(b.service_level_gain)} (at least "
        f"+{100 * SERVICE_LEVEL_GAIN:g}); worst queue {b.worst_queue} "
        f"{_pp(b.worst_queue_gain)} (at least -{100 * QUEUE_LOSS:g}); occupancy spread "
        f"{_pct(b.spread)} vs {_pct(b.baseline_spread)}; longest wait "
        f"{b.max_wait_seconds:.0f} s (bound: {bound}, from {c.bench.bound_from}).",
        "Missed: " + ("; ".join(b.failures()) or "none") + ".",
    ]
    return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.routing_tables", description=__doc__)
    p.add_argument("--replications", type=int, default=REPLICATIONS)
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--hours", type=float, help="only the first HOURS of each day")
    p.add_argument("--scenario", action="append", choices=SCENARIOS, help="default: all")
    args = p.parse_args(argv)
    missed = 0
    for name in args.scenario or SCENARIOS:
        t0 = time.perf_counter()
        c = compare(load_bench(name, args.hours), args.replications, args.seed)
        print(markdown(c))
        print()
        print(
            f"{name}: {c.interactions} interactions in {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
        missed += bool(bars(c).failures())
    command = f"python -m bench.routing_tables --replications {args.replications}"
    command += f" --seed {args.seed}" + (f" --hours {args.hours:g}" if args.hours else "")
    print(f"Reproduce: `{command}`")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
