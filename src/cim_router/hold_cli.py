"""Hold and feedback commands of `cim-router`: `hold ID`, `resume ID` and `feedback ID
CSAT [--comment TEXT] [--field NAME=VALUE ...]`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from cim_router import ops_format as fmt
from cim_router._pb import router_pb2 as pb
from cim_router.client import RouterClient

Output = tuple[dict[str, Any], str]  # for --json, for people


def _field(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not name or not sep:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE")
    return name, value


def hold_text(i: pb.Interaction) -> str:
    return fmt.fields(
        [
            *fmt.interaction_summary(i),
            ("on hold", f"since {fmt.when(i.hold_started_at)}" if i.on_hold else "no"),
            ("holds", i.hold_count),
            ("hold time", f"{i.hold_seconds:.0f} s"),
        ]
    )


def feedback_text(i: pb.Interaction) -> str:
    # The comment is the customer's: shown to whoever asked for it, as given.
    return fmt.fields(
        [
            *fmt.interaction_summary(i),
            ("completed", fmt.when(i.completed_at)),
            ("csat", i.csat or ""),
            ("comment", i.feedback_comment),
            *((f"  {k}", v) for k, v in sorted(i.feedback_fields.items())),
        ]
    )


def hold(client: RouterClient, args: argparse.Namespace) -> Output:
    i = client.hold(args.interaction_id, agent_id=args.agent, reason=args.reason)
    return fmt.to_dict(i), hold_text(i)


def resume(client: RouterClient, args: argparse.Namespace) -> Output:
    i = client.resume(args.interaction_id, agent_id=args.agent)
    return fmt.to_dict(i), hold_text(i)


def feedback(client: RouterClient, args: argparse.Namespace) -> Output:
    i = client.submit_feedback(
        args.interaction_id, args.csat, comment=args.comment, fields=dict(args.field)
    )
    return fmt.to_dict(i), feedback_text(i)


HANDLERS: dict[str, Callable[[RouterClient, argparse.Namespace], Output]] = {
    "hold": hold,
    "resume": resume,
    "feedback": feedback,
}


def register(add: Callable[[str, str], argparse.ArgumentParser]) -> None:
    p = add("hold", "put an assigned interaction on hold")
    p.add_argument("interaction_id", metavar="ID")
    p.add_argument("--agent", default="", help="the agent expected to hold it")
    p.add_argument("--reason", default="")

    p = add("resume", "take an interaction off hold")
    p.add_argument("interaction_id", metavar="ID")
    p.add_argument("--agent", default="", help="the agent expected to hold it")

    p = add("feedback", "record a completed interaction's feedback (replaces an earlier one)")
    p.add_argument("interaction_id", metavar="ID")
    p.add_argument("csat", type=int, metavar="CSAT", help="1..5")
    p.add_argument("--comment", default="", help="the customer's words")
    p.add_argument(
        "--field", type=_field, action="append", default=[], help="NAME=VALUE, a survey answer"
    )
