"""Operator commands of `cim-router`: look at and act on a running router over gRPC.

Each command takes `--target host:port` (env CIM_ROUTER_TARGET), `--tenant` (env
CIM_ROUTER_TENANT), the API key and TLS flags (`--token`, `--token-file`, `--ca`, `--cert`,
`--key`; see `client.flags`), `--timeout` and `--json`. A refused call prints one line on stderr,
`cim-router: NOT_FOUND: ...`, and exits 1; a usage error exits 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from cim_router import events_cli, hold_cli, queue_cli
from cim_router import ops_format as fmt
from cim_router.client import RouterClient, RouterError
from cim_router.client.connection import DEFAULT_TARGET, DEFAULT_TIMEOUT
from cim_router.client.flags import add_connection_flags, connection_from
from cim_router.client.names import AGENT_STATES, CHANNELS


@dataclass(frozen=True)
class Output:
    data: dict[str, Any]  # for --json
    text: str  # for people


Handler = Callable[[RouterClient, argparse.Namespace], Output]


def _of(message: Message, text: str) -> Output:
    return Output(fmt.to_dict(message), text)


# --- argument types: argparse turns their errors into a usage message and exit code 2 ---------


def _name(choices: list[str]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        name = text.strip().lower().replace("-", "_")
        if name not in choices:
            raise argparse.ArgumentTypeError(f"{text!r}: expected one of {', '.join(choices)}")
        return name

    return parse


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE")
    return key, value


def _level(text: str) -> tuple[str, int]:
    key, value = _key_value(text)
    try:
        return key, int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: {value!r} is not a whole number") from None


def _skill(text: str) -> tuple[str, int]:
    """`spanish` (level 1) or `spanish=5`."""
    return _level(text) if "=" in text else (text, 1)


def _context(text: str) -> tuple[str, Any]:
    """`key=value`: a JSON value (number, true, {"a": 1}), or else the text as a string."""
    key, value = _key_value(text)
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


# --- commands ---------------------------------------------------------------------------------


def agents(client: RouterClient, args: argparse.Namespace) -> Output:
    found = client.list_agents(state=args.state)
    return Output({"agents": [fmt.to_dict(a) for a in found]}, fmt.agents(found))


def agent_upsert(client: RouterClient, args: argparse.Namespace) -> Output:
    agent = client.upsert_agent(
        args.agent_id,
        skills=dict(args.skill),
        tier=args.tier,
        state=args.state,
        display_name=args.name,
        capacity=dict(args.capacity),
        routing_profile=dict(args.queue),
    )
    return _of(agent, fmt.agent(agent))


def agent_state(client: RouterClient, args: argparse.Namespace) -> Output:
    agent = client.set_agent_state(args.agent_id, args.state, reason=args.reason)
    return _of(agent, fmt.agent(agent))


def when(text: str) -> float:
    """A time as epoch seconds: `+SECONDS` from now, or ISO 8601 with its offset."""
    try:
        if text.startswith("+"):
            return time.time() + float(text[1:])
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: +SECONDS or an ISO 8601 time, e.g. 2026-12-02T15:00:00+01:00"
        ) from None
    if at.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r}: give the time's offset (e.g. +01:00 or Z)")
    return at.timestamp()


def enqueue(client: RouterClient, args: argparse.Namespace) -> Output:
    response = client.enqueue(
        args.interaction_id,
        channel=args.channel,
        required=dict(args.require),
        preferred=dict(args.prefer),
        priority=args.priority,
        customer_id=args.customer,
        customer_tier=args.customer_tier,
        sla_seconds=args.sla,
        preferred_agent_id=args.preferred_agent,
        context=dict(args.context) if args.context else None,
        queue_id=args.queue,
        outbound=args.outbound,
        not_before=args.not_before,
    )
    return _of(response, fmt.enqueued(response))


def get(client: RouterClient, args: argparse.Namespace) -> Output:
    interaction = client.get_interaction(args.interaction_id)
    return _of(interaction, fmt.interaction_detail(interaction))


def accept(client: RouterClient, args: argparse.Namespace) -> Output:
    interaction = client.accept(args.interaction_id, args.agent_id)
    return _of(interaction, fmt.interaction(interaction))


def complete(client: RouterClient, args: argparse.Namespace) -> Output:
    interaction = client.complete(
        args.interaction_id, agent_id=args.agent, disposition=args.disposition, csat=args.csat
    )
    return _of(interaction, fmt.interaction(interaction))


def cancel(client: RouterClient, args: argparse.Namespace) -> Output:
    interaction = client.cancel(args.interaction_id, reason=args.reason)
    return _of(interaction, fmt.interaction(interaction))


def stats(client: RouterClient, args: argparse.Namespace) -> Output:
    figures = client.stats()
    return _of(figures, fmt.stats(figures))


def explain(client: RouterClient, args: argparse.Namespace) -> Output:
    why = client.explain(args.interaction_id)
    return _of(why, fmt.explanation(why))


def customers(client: RouterClient, args: argparse.Namespace) -> Output:
    """`customers forget ID`: erase a customer of the tenant (ForgetCustomer)."""
    erased = client.forget_customer(args.customer_id)
    return _of(erased, fmt.forgotten(erased))


HANDLERS: dict[str, Handler] = {
    "agents": agents,
    "agent-upsert": agent_upsert,
    "agent-state": agent_state,
    "enqueue": enqueue,
    "get": get,
    "accept": accept,
    "complete": complete,
    "cancel": cancel,
    "stats": stats,
    "explain": explain,
    "customers": customers,
}


def _queue_command(name: str) -> Handler:
    def handle(client: RouterClient, args: argparse.Namespace) -> Output:
        data, text = queue_cli.HANDLERS[name](client, args)
        return Output(data, text)

    return handle


def _hold_command(name: str) -> Handler:
    def handle(client: RouterClient, args: argparse.Namespace) -> Output:
        data, text = hold_cli.HANDLERS[name](client, args)
        return Output(data, text)

    return handle


HANDLERS.update({name: _queue_command(name) for name in queue_cli.HANDLERS})


def _events_command(name: str) -> Handler:
    def handle(client: RouterClient, args: argparse.Namespace) -> Output:
        data, text = events_cli.HANDLERS[name](client, args)
        return Output(data, text)

    return handle


HANDLERS.update({name: _events_command(name) for name in events_cli.HANDLERS})

HANDLERS.update({name: _hold_command(name) for name in hold_cli.HANDLERS})
COMMANDS = frozenset(HANDLERS)


# --- parser -----------------------------------------------------------------------------------


def _connection_flags() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--target",
        default=os.environ.get("CIM_ROUTER_TARGET", DEFAULT_TARGET),
        help=f"router address host:port [env CIM_ROUTER_TARGET; default {DEFAULT_TARGET}]",
    )
    p.add_argument(
        "--tenant",
        default=os.environ.get("CIM_ROUTER_TENANT"),
        help="tenant (x-cim-tenant header) [env CIM_ROUTER_TENANT; default: the router's]",
    )
    p.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per call, retries included"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    add_connection_flags(p)
    return p


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the operator commands to `cim-router`'s subcommands."""
    common = _connection_flags()
    agent_states = _name(AGENT_STATES.names())
    settable = _name([s for s in AGENT_STATES.names() if s != "wrap_up"])

    def add(name: str, text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, help=text, parents=[common])
        return parser

    p = add("agents", "list agents")
    p.add_argument("--state", type=agent_states, help="only agents in this state")

    p = add("agent-upsert", "create or replace an agent")
    p.add_argument("agent_id", metavar="ID")
    p.add_argument("--skill", type=_level, action="append", default=[], help="NAME=LEVEL (1..10)")
    p.add_argument("--tier", type=int, default=0, help="1 (junior) .. 5 (supervisor)")
    p.add_argument("--state", type=settable, help="default: keep (a new agent starts offline)")
    p.add_argument("--name", default="", help="display name")
    p.add_argument(
        "--capacity", type=_level, action="append", default=[], help="CHANNEL=COUNT override"
    )
    p.add_argument(
        "--queue",
        type=queue_cli.membership,
        action="append",
        default=[],
        help="routing profile: QUEUE[=PRIORITY[/DELAY]] (none: every queue)",
    )

    p = add("agent-state", "set an agent offline, available or not_ready")
    p.add_argument("agent_id", metavar="ID")
    p.add_argument("state", type=settable, metavar="STATE")
    p.add_argument("--reason", default="", help="why (for not_ready)")

    p = add("enqueue", "queue an interaction")
    p.add_argument("interaction_id", metavar="ID")
    p.add_argument("--channel", type=_name(CHANNELS.names()), required=True)
    p.add_argument("--require", type=_level, action="append", default=[], help="SKILL=MIN_LEVEL")
    p.add_argument("--prefer", type=_skill, action="append", default=[], help="SKILL[=LEVEL]")
    p.add_argument("--priority", type=int, default=0, help="0..100")
    p.add_argument("--customer", default="", help="customer id")
    p.add_argument("--customer-tier", default="", help="e.g. standard, gold, vip")
    p.add_argument("--sla", type=float, default=0.0, help="SLA target seconds")
    p.add_argument("--preferred-agent", default="")
    p.add_argument("--queue", default="", help="queue id (default: the queue 'default')")
    p.add_argument("--outbound", action="store_true", help="proactive work (not inbound)")
    p.add_argument(
        "--not-before", type=when, metavar="TIME", help="route from then: ISO 8601 or +SECONDS"
    )
    p.add_argument(
        "--context", type=_context, action="append", default=[], help="KEY=VALUE (JSON or text)"
    )

    for name, text in (
        ("get", "an interaction: state, agent, context and history"),
        ("explain", "why an interaction went (or would go) to its agent"),
    ):
        add(name, text).add_argument("interaction_id", metavar="ID")

    p = add("accept", "accept an offer for an agent")
    p.add_argument("interaction_id", metavar="ID")
    p.add_argument("agent_id", metavar="AGENT")

    p = add("complete", "complete an interaction (wrap-up follows)")
    p.add_argument("interaction_id", metavar="ID")
    p.add_argument("--csat", type=int, default=0, help="1..5")
    p.add_argument("--disposition", default="")
    p.add_argument("--agent", default="", help="the agent expected to hold it")

    p = add("cancel", "cancel an interaction (the customer left)")
    p.add_argument("interaction_id", metavar="ID")
    p.add_argument("--reason", default="")

    add("stats", "the wallboard figures")
    queue_cli.register(add, _level, _skill)
    events_cli.register(add)
    hold_cli.register(add)

    p = sub.add_parser("customers", help="customer data")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = actions.add_parser(
        "forget",
        parents=[common],
        help="erase a customer: context, history, index and event stream entries; "
        "their interactions stay, anonymous",
    )
    p.add_argument("customer_id", metavar="ID")


def run(args: argparse.Namespace) -> int:
    """Run the operator command `args.command`; the process's exit code."""
    try:
        conn = connection_from(args)
    except ValueError as exc:
        print(f"cim-router {args.command}: {exc}", file=sys.stderr)
        return 2
    try:
        with RouterClient(
            args.target, tenant=args.tenant, timeout=args.timeout, token=conn.token, tls=conn.tls
        ) as client:
            out = HANDLERS[args.command](client, args)
    except RouterError as exc:
        print(f"cim-router: {exc.code.name}: {exc.details}", file=sys.stderr)
        return 1
    except ValueError as exc:  # a name the client checks before sending, e.g. a channel
        print(f"cim-router {args.command}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(out.data, indent=2, ensure_ascii=False) if args.json else out.text)
    return 0
