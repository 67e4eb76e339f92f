"""`cim-router simulate SCENARIO.toml`: what-if simulation of a day on the router's own
tenant code (no server, no Redis): each `--policy`, and the `--baseline`, on the same
random draws, side by side with the paired differences and their 95% intervals."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from types import FrameType

from cim_router.domain.policy import Policy, PolicyError, load_policy
from cim_router.simulate.baselines import BASELINES, longest_idle
from cim_router.simulate.report import as_json, interval_table, table
from cim_router.simulate.runner import Run, run_all
from cim_router.simulate.scenario import Scenario, ScenarioError, check_queues, load_scenario
from cim_router.simulate.staffing import parse_target, staff_for

COMMAND = "simulate"


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: at least 1")
    return n


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `simulate` to `cim-router`'s subcommands."""
    p = sub.add_parser(
        COMMAND,
        help="simulate a day of a scenario against policies, on the router's own code",
        description=__doc__,
    )
    p.add_argument("scenario", help="scenario TOML file (docs/simulate.md)")
    p.add_argument(
        "--policy",
        action="append",
        default=[],
        metavar="FILE",
        help="a policy TOML file to simulate (repeat to compare several)",
    )
    p.add_argument("--baseline", choices=BASELINES, help="also run a baseline, compared with each")
    p.add_argument("--json", action="store_true", help='print {"runs": [...]} as JSON')
    p.add_argument("--plot", metavar="FILE.png", help="draw service level and queue length")
    p.add_argument("--replications", type=_positive, default=5, help="replications (default 5)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--intervals", action="store_true", help="also print figures per interval")
    p.add_argument(
        "--check",
        action="store_true",
        help="check work conservation at every simulated event (slow)",
    )
    p.add_argument(
        "--staff-for",
        type=_target,
        metavar="SHARE/SECONDS",
        help="find the fewest agents per interval for this service level, e.g. 0.8/20",
    )
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def _target(text: str) -> tuple[float, float]:
    try:
        return parse_target(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _staff(args: argparse.Namespace, scenario: Scenario, run: Run) -> int:
    target, seconds = args.staff_for
    rows = staff_for(
        scenario,
        run.policy,
        target,
        seconds,
        args.replications,
        args.seed,
        None if args.quiet else sys.stderr,
    )
    if args.json:
        out = []
        for row in rows:
            e = row.service_level
            out.append(
                {
                    "interval": row.interval,
                    "erlang_c_agents": row.erlang_c,
                    "agents": row.agents,
                    "service_level": None if e is None else round(e.mean, 6),
                    "service_level_ci": None if e is None or e.ci is None else round(e.ci, 6),
                }
            )
        print(
            json.dumps({"policy": run.name, "target": target, "seconds": seconds, "staffing": out})
        )
        return 0
    print(f"{run.name}: fewest agents for {target:.0%} within {seconds:g} s")
    print("interval  Erlang C  agents  service level %")
    for row in rows:
        e = row.service_level
        level = "-" if e is None else f"{100 * e.mean:.2f}"
        if e is not None and e.ci is not None:
            level += f" ±{100 * e.ci:.2f}"
        print(f"{row.interval:8d}  {row.erlang_c:8d}  {row.agents:6d}  {level:>15}")
    return 0


def runs_of(policies: list[str], baseline: str | None) -> list[Run]:
    """The columns: each policy file (named by its stem), or the default policy when none
    is given, then the baseline."""
    out: list[Run] = []
    names: set[str] = set()
    for path in policies:
        name = Path(path).stem
        while name in names:
            name += "'"
        names.add(name)
        out.append(Run(name, load_policy(path)))
    if not out:
        out.append(Run("default", Policy()))
    reference = out[0].policy
    if baseline is not None:
        out.append(Run(baseline, longest_idle(reference), random_choice=baseline == "random"))
    return out


def run(args: argparse.Namespace) -> int:
    try:
        scenario = load_scenario(args.scenario)
        runs = runs_of(list(args.policy), args.baseline)
        for r in runs:
            check_queues(scenario, r.policy.queues, f"policy {r.name!r}")
    except (ScenarioError, PolicyError) as exc:
        print(f"cim-router simulate: {exc}", file=sys.stderr)
        return 2
    if args.staff_for is not None:
        return _staff(args, scenario, runs[0])
    stopped = False

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        nonlocal stopped
        if stopped:  # a second Ctrl-C: stop at once
            raise KeyboardInterrupt
        stopped = True

    previous = signal.signal(signal.SIGINT, on_interrupt)
    if not args.quiet:
        print(
            f"simulating {args.scenario}: {len(runs)} run(s) x {args.replications} "
            "replication(s); Ctrl-C prints what is simulated so far",
            file=sys.stderr,
            flush=True,
        )
    try:
        outcome = run_all(
            scenario,
            runs,
            args.replications,
            args.seed,
            baseline=args.baseline or "",
            check=args.check,
            progress=None if args.quiet else sys.stderr,
            stop=lambda: stopped,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    if outcome.interrupted:
        print(
            "interrupted: the figures are those simulated so far "
            f"({outcome.replications} complete replication(s))",
            file=sys.stderr,
        )
    if not args.quiet:
        rate = outcome.interactions / outcome.wall_seconds if outcome.wall_seconds else 0.0
        print(
            f"simulated {outcome.interactions} interactions in {outcome.wall_seconds:.1f} s "
            f"({rate:.0f}/s)",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps(as_json(outcome.summaries, outcome.replications, outcome.interrupted)))
    else:
        print(table(outcome.summaries))
        if args.intervals:
            for s in outcome.summaries:
                print()
                print(interval_table(s))
    if args.plot:
        from cim_router.simulate.plot import plot

        plot(outcome.summaries, scenario.interval_minutes, args.plot)
    return 130 if outcome.interrupted else 0
