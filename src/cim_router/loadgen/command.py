"""`cim-router loadgen`: drive a router with open-loop Poisson arrivals and report latency
percentiles, throughput, service level, abandonment and occupancy. Agents may reject or
miss offers, customers hang up, rate the conversation, come back and pick a queue."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from cim_router.client import RouterError
from cim_router.client.connection import DEFAULT_TARGET
from cim_router.client.flags import add_connection_flags, connection_from
from cim_router.loadgen.config import (
    DISTRIBUTIONS,
    LoadConfig,
    fresh_tenant,
    parse_mix,
    parse_queues,
)
from cim_router.loadgen.report import format_report
from cim_router.loadgen.runner import run_load

COMMAND = "loadgen"


def _mix(text: str) -> dict[str, float]:
    try:
        return parse_mix(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _queues(text: str) -> dict[str, float]:
    try:
        return parse_queues(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _probability(text: str) -> float:
    try:
        p = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= p <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r}: a probability is 0..1")
    return p


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `loadgen` to `cim-router`'s subcommands."""
    d = LoadConfig(tenant="-")
    p = sub.add_parser(
        COMMAND,
        help="drive a router with open-loop load and report latency percentiles",
        description=__doc__,
    )
    p.add_argument(
        "--target",
        default=os.environ.get("CIM_ROUTER_TARGET", DEFAULT_TARGET),
        help=f"router address host:port [env CIM_ROUTER_TARGET; default {DEFAULT_TARGET}]",
    )
    p.add_argument("--tenant", help="tenant to load (default: a fresh loadgen-<random> one)")
    add_connection_flags(p)
    p.add_argument("--rate", type=float, default=d.rate, help="interactions per second (Poisson)")
    p.add_argument(
        "--duration", type=float, help=f"seconds of arrivals (default {d.duration:g} w/o --count)"
    )
    p.add_argument("--count", type=int, help="stop arrivals after this many interactions")
    p.add_argument("--agents", type=int, default=d.agents, help="simulated agents")
    p.add_argument(
        "--channels",
        type=_mix,
        default=d.channels,
        help="channel mix with weights, e.g. chat=3,voice=1 (the default)",
    )
    p.add_argument("--skills", type=int, default=d.skills, help="distinct skills in the mix")
    p.add_argument("--handle-mean", type=float, default=d.handle_mean, help="seconds")
    p.add_argument("--handle-distribution", choices=DISTRIBUTIONS, default=d.handle_distribution)
    p.add_argument(
        "--patience-mean", type=float, default=d.patience_mean, help="seconds (exponential)"
    )
    p.add_argument(
        "--abandon-probability",
        type=_probability,
        default=d.abandon_probability,
        help="share of customers who hang up when their patience runs out (default 1)",
    )
    p.add_argument(
        "--think-time", type=float, default=d.think_time, help="seconds from offer to answer"
    )
    p.add_argument(
        "--reject-probability",
        type=_probability,
        default=d.reject_probability,
        metavar="P",
        help="chance an agent rejects an offer (default 0)",
    )
    p.add_argument(
        "--no-answer-probability",
        type=_probability,
        default=d.no_answer_probability,
        metavar="P",
        help="chance an agent lets an offer expire (default 0)",
    )
    p.add_argument("--csat", action="store_true", help="a CSAT score 1..5 at every Complete")
    p.add_argument(
        "--csat-mean", type=float, default=d.csat_mean, help="mean CSAT score, 1..5 (with --csat)"
    )
    p.add_argument(
        "--returning-customers",
        type=_probability,
        default=d.returning_customers,
        metavar="P",
        help="share of interactions from a customer seen earlier in the run (default 0)",
    )
    p.add_argument(
        "--queues",
        type=_queues,
        default={},
        help="queue mix with weights, e.g. sales=0.6,support=0.4 (default: no queue named)",
    )
    p.add_argument("--sla", type=float, default=d.sla_seconds, help="service-level target, seconds")
    p.add_argument(
        "--grace", type=float, default=d.grace, help="seconds to wait for open interactions"
    )
    p.add_argument("--streams", type=int, default=d.streams, help="WatchAssignments streams")
    p.add_argument(
        "--session",
        action="store_true",
        help="make the interactions' calls and follow the agents over --streams Session "
        "streams instead of unary calls and WatchAssignments",
    )
    p.add_argument("--max-in-flight", type=int, default=d.max_in_flight, help="safety cap on calls")
    p.add_argument("--timeout", type=float, default=d.timeout, help="seconds per call")
    p.add_argument("--seed", type=int, help="random seed, for a repeatable workload")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--json-out", type=Path, metavar="FILE", help="also write the JSON here")


def config_from(args: argparse.Namespace) -> LoadConfig:
    duration = args.duration
    if duration is None and args.count is None:
        duration = LoadConfig.duration
    conn = connection_from(args)  # ValueError: reported as a usage error
    return LoadConfig(
        target=args.target,
        token=conn.token,
        tls=conn.tls,
        tenant=args.tenant or fresh_tenant(),
        rate=args.rate,
        duration=duration,
        count=args.count,
        agents=args.agents,
        channels=args.channels,
        skills=args.skills,
        handle_mean=args.handle_mean,
        handle_distribution=args.handle_distribution,
        patience_mean=args.patience_mean,
        think_time=args.think_time,
        abandon_probability=args.abandon_probability,
        reject_probability=args.reject_probability,
        no_answer_probability=args.no_answer_probability,
        csat=args.csat,
        csat_mean=args.csat_mean,
        returning_customers=args.returning_customers,
        queues=args.queues,
        sla_seconds=args.sla,
        grace=args.grace,
        streams=args.streams,
        session=args.session,
        max_in_flight=args.max_in_flight,
        timeout=args.timeout,
        seed=args.seed,
        progress=not args.quiet,
    )


def run(args: argparse.Namespace) -> int:
    """Run `cim-router loadgen`; the process's exit code."""
    try:
        config = config_from(args)
    except ValueError as exc:
        print(f"cim-router loadgen: {exc}", file=sys.stderr)
        return 2
    try:
        report: dict[str, Any] = asyncio.run(run_load(config))
    except RouterError as exc:  # setup failed: agents, streams
        print(f"cim-router: {exc.code.name}: {exc.details}", file=sys.stderr)
        return 1
    except RuntimeError as exc:
        print(f"cim-router loadgen: {exc}", file=sys.stderr)
        return 1
    text = json.dumps(report, indent=2)
    if args.json_out is not None:
        args.json_out.write_text(text + "\n")
    print(text if args.json else format_report(report))
    return 0
