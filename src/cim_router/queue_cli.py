"""Queue commands of `cim-router`: `queues` (a table), `queue-upsert ID ...`, `queue ID` (a
live view: GetQueue polled and printed until interrupted, or `--count` times), and the
routing-profile option of `agent-upsert` (`--queue QUEUE[=PRIORITY[/DELAY]]`)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cim_router import ops_format as fmt
from cim_router._pb import router_pb2 as pb
from cim_router.client import RouterClient
from cim_router.client.names import CHANNELS, channel_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

Output = tuple[dict[str, Any], str]  # for --json, for people


def membership(text: str) -> tuple[str, tuple[int, float]]:
    """`sales` (priority 10, no delay), `sales=7`, `sales=7/30` (30 s delay)."""
    queue_id, sep, rest = text.partition("=")
    if not queue_id:
        raise argparse.ArgumentTypeError(f"{text!r}: expected QUEUE[=PRIORITY[/DELAY]]")
    if not sep:
        return queue_id, (0, 0.0)
    priority, _, delay = rest.partition("/")
    try:
        return queue_id, (int(priority), float(delay or 0))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected QUEUE[=PRIORITY[/DELAY]]") from None


def _sla(text: str) -> tuple[float, float]:
    """`SECONDS/SHARE`, e.g. `20/0.8`."""
    seconds, sep, share = text.partition("/")
    try:
        return float(seconds), float(share) if sep else 0.0
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected SECONDS/SHARE, e.g. 20/0.8") from None


def _channels(text: str) -> list[str]:
    names = [c.strip().lower() for c in text.split(",") if c.strip()]
    for name in names:
        if name not in CHANNELS.names():
            raise argparse.ArgumentTypeError(f"{name!r}: expected channels of {CHANNELS.names()}")
    return names


def hours_file(path: str | None) -> dict[str, Any] | None:
    """A TOML file holding the `hours` table's keys (time_zone, mon .. sun, exceptions), at
    its top level or under `[hours]`; ValueError (a usage error) if it cannot be read."""
    if path is None:
        return None
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"--hours-file {path}: {exc}") from None
    hours = data.get("hours", data)
    if not isinstance(hours, dict):
        raise ValueError(f"--hours-file {path}: [hours] must be a table")
    return hours


def rules_file(path: str | None) -> list[dict[str, Any]]:
    """A TOML file of `[[overflow]]` tables, each in the policy file's shape (name, when,
    threshold, then, queue, to_back, skills, priority, disposition)."""
    if path is None:
        return []
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"--rules-file {path}: {exc}") from None
    rules = data.get("overflow", [])
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise ValueError(f"--rules-file {path}: [[overflow]] must be an array of tables")
    return rules


# --- text -------------------------------------------------------------------------------------


def _hours_text(h: pb.Hours) -> str:
    if not h.time_zone and not h.weekly and not h.exceptions:
        return "always open"
    days = ", ".join(f"{d.day} {' '.join(d.intervals)}" for d in h.weekly) or "closed every day"
    closed = [e.date for e in h.exceptions if not e.intervals]
    extra = f"; closed {', '.join(closed)}" if closed else ""
    return f"{days} ({h.time_zone or 'UTC'}){extra}"


def _rule_text(r: pb.OverflowRule) -> str:
    when = pb.OverflowCondition.Name(r.when).removeprefix("OVERFLOW_CONDITION_").lower()
    then = pb.OverflowAction.Name(r.then).removeprefix("OVERFLOW_ACTION_").lower()
    if r.when in (pb.OVERFLOW_CONDITION_WAITED, pb.OVERFLOW_CONDITION_EXPECTED_WAIT):
        when += f" {r.threshold:g} s"
    elif r.when == pb.OVERFLOW_CONDITION_SIZE:
        when += f" > {r.threshold:g}"
    target = {"move": f" {r.queue_id}", "end": f" {r.disposition}"}.get(then, "")
    return f"{r.name}: {when} -> {then}{target}"


def status_text(s: pb.QueueStatus) -> str:
    q = s.queue
    change = fmt.when(s.next_change) if s.HasField("next_change") else "never"
    return fmt.fields(
        [
            ("queue", q.id + (f" ({q.display_name})" if q.display_name else "")),
            ("channels", ", ".join(channel_name(c) for c in q.channels) or "all"),
            ("required", fmt.requirements(q.required_skills) or "-"),
            ("preferred", fmt.requirements(q.preferred_skills) or "-"),
            ("priority", q.priority),
            ("service level", f"{q.service_level.share:.0%} in {q.service_level.seconds:g} s"),
            ("max size", q.max_size or "no limit"),
            ("hours", _hours_text(q.hours)),
            ("open", f"{'yes' if s.open else 'no'} (changes {change})"),
            ("overflow rules", "; ".join(_rule_text(r) for r in q.overflow) or "-"),
            ("waiting", s.waiting),
            ("longest wait", f"{s.longest_wait_seconds:.0f} s"),
            ("agents", f"{s.agents_available} available of {s.agents_staffed} logged in"),
            ("estimated wait", f"{s.estimated_wait_seconds:.0f} s"),
        ]
    )


def statuses_text(items: Sequence[pb.QueueStatus]) -> str:
    return fmt.table(
        ("QUEUE", "OPEN", "WAITING", "LONGEST", "AVAILABLE", "STAFFED", "EST WAIT"),
        [
            (
                s.queue.id,
                "yes" if s.open else "no",
                s.waiting,
                f"{s.longest_wait_seconds:.0f}s",
                s.agents_available,
                s.agents_staffed,
                f"{s.estimated_wait_seconds:.0f}s",
            )
            for s in items
        ],
    )


# --- commands ---------------------------------------------------------------------------------


def queues(client: RouterClient, args: argparse.Namespace) -> Output:
    found = client.list_queues()
    return {"queues": [fmt.to_dict(s) for s in found]}, statuses_text(found)


def queue_upsert(client: RouterClient, args: argparse.Namespace) -> Output:
    seconds, share = args.sla or (0.0, 0.0)
    status = client.upsert_queue(
        args.queue_id,
        display_name=args.name,
        channels=args.channels or (),
        required=dict(args.skill),
        preferred=dict(args.prefer),
        priority=args.priority,
        sla_seconds=seconds,
        sla_share=share,
        max_size=args.max_size,
        max_wait_seconds=args.max_wait,
        hours=hours_file(args.hours_file),
        overflow=rules_file(args.rules_file),
    )
    return fmt.to_dict(status), status_text(status)


def queue_view(client: RouterClient, args: argparse.Namespace) -> Output:
    """Poll GetQueue every `--every` seconds, printing each answer; the last is returned."""
    shown = 0
    while True:
        status = client.get_queue(args.queue_id)
        shown += 1
        if args.count and shown >= args.count:
            return fmt.to_dict(status), status_text(status)
        print(status_text(status) + "\n", flush=True)
        time.sleep(args.every)


def callback(client: RouterClient, args: argparse.Namespace) -> Output:
    """RequestCallback: waiting voice or video work becomes a callback to ADDRESS."""
    interaction = client.request_callback(
        args.interaction_id,
        args.address,
        max_attempts=args.attempts,
        retry_seconds=args.retry,
    )
    cb = interaction.callback
    text = fmt.fields(
        [
            ("interaction", interaction.id),
            ("callback to", cb.address),
            ("attempts", f"{len(cb.attempts)} of {cb.max_attempts}"),
            ("retry after", f"{cb.retry_seconds:g} s"),
            ("queue", interaction.queue_id),
        ]
    )
    return fmt.to_dict(interaction), text


HANDLERS: dict[str, Callable[[RouterClient, argparse.Namespace], Output]] = {
    "queues": queues,
    "queue-upsert": queue_upsert,
    "queue": queue_view,
    "callback": callback,
}


def register(
    add: Callable[[str, str], argparse.ArgumentParser],
    level: Callable[[str], tuple[str, int]],
    skill: Callable[[str], tuple[str, int]],
) -> None:
    add("queues", "list queues: open, waiting, agents")

    p = add("queue-upsert", "create or replace a queue")
    p.add_argument("queue_id", metavar="ID")
    p.add_argument("--name", default="", help="display name")
    p.add_argument("--channels", type=_channels, help="CHANNEL[,CHANNEL...] (default: all)")
    p.add_argument("--skills", dest="skill", type=level, action="append", default=[])
    p.add_argument("--prefer", type=skill, action="append", default=[], help="SKILL[=LEVEL]")
    p.add_argument("--priority", type=int, default=0, help="0..100, added to its work's")
    p.add_argument("--sla", type=_sla, help="SECONDS/SHARE, e.g. 20/0.8")
    p.add_argument("--max-size", type=int, default=0, help="waiting at most (0: no limit)")
    p.add_argument("--max-wait", type=float, default=0.0, help="seconds (0: no limit)")
    p.add_argument("--hours-file", metavar="TOML", help="time_zone, mon..sun, exceptions")
    p.add_argument(
        "--rules-file", metavar="TOML", help="[[overflow]] rules, in order (as in the policy)"
    )

    p = add("callback", "turn waiting voice or video work into a callback (virtual hold)")
    p.add_argument("interaction_id", metavar="ID")
    p.add_argument("address", metavar="ADDRESS", help="the number or SIP address to call")
    p.add_argument("--attempts", type=int, default=0, help="at most (0: queue's or policy's)")
    p.add_argument("--retry", type=float, default=0.0, help="seconds between attempts")

    p = add("queue", "watch a queue: GetQueue every few seconds")
    p.add_argument("queue_id", metavar="ID")
    p.add_argument("--every", type=float, default=2.0, help="seconds between looks")
    p.add_argument("--count", type=int, default=0, help="stop after this many (0: never)")
