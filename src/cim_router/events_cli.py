"""Event stream and customer commands of `cim-router`: `events` (follow the tenant's event
stream: `--type` filters, `--after ID` to resume, `--from-start`, `--count N` to stop after
N) and `customer ID` (GetCustomer: totals, open interactions, a page of interactions)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from cim_router import ops_format as fmt
from cim_router._pb import router_pb2 as pb
from cim_router.client import RouterClient
from cim_router.client.names import EVENTS, channel_name, event_name, interaction_state_name

Output = tuple[dict[str, Any], str]  # for --json, for people


def _event_type(text: str) -> str:
    name = text.strip().lower().replace("-", "_")
    if name not in EVENTS.names():
        raise argparse.ArgumentTypeError(f"{text!r}: expected one of {', '.join(EVENTS.names())}")
    return name


def event_line(m: pb.StreamEvent) -> str:
    e = m.event
    extra = [
        f"{k}={v}"
        for k, v in (
            ("agent", e.agent_id),
            ("queue", e.queue_id),
            ("caller", e.caller),
            ("reason", json.dumps(e.reason, ensure_ascii=False) if e.reason else ""),
        )
        if v
    ]
    head = f"{m.id}  {fmt.when(e.at, millis=True)}  {event_name(e.type):<18} {e.interaction_id}"
    return "  ".join([head, channel_name(e.channel) if e.channel else "", *extra]).rstrip()


def events(client: RouterClient, args: argparse.Namespace) -> Output:
    """Print each event as it comes (one JSON object a line with --json), until interrupted;
    with --count, gather that many and answer with them."""
    stream = client.watch_events(args.type, after_id=args.after, from_start=args.from_start)
    got: list[pb.StreamEvent] = []
    try:
        for m in stream:
            if args.count:
                got.append(m)
                if len(got) >= args.count:
                    break
                continue
            print(json.dumps(fmt.to_dict(m)) if args.json else event_line(m), flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        stream.close()
    data = {"events": [fmt.to_dict(m) for m in got]}
    return data, "\n".join(event_line(m) for m in got)


def customer_text(c: pb.Customer) -> str:
    t = c.totals
    csat = f"{t.csat_mean:.2f} of {t.csat_count}" if t.HasField("csat_mean") else "-"
    head = fmt.fields(
        [
            ("customer", c.customer_id),
            ("last agent", c.last_agent_id or "-"),
            ("last interaction", c.last_interaction_id),
            ("contacts", t.contacts),
            ("repeat contacts", t.repeat_contacts),
            ("csat", csat),
            ("open", ", ".join(i.id for i in c.open_interactions) or "-"),
            ("next page", c.next_page_token),
        ]
    )
    rows = [
        (
            i.id,
            channel_name(i.channel),
            interaction_state_name(i.state),
            i.queue_id,
            i.agent_id or "-",
            fmt.when(i.enqueued_at),
            i.csat or "-",
        )
        for i in c.interactions
    ]
    headers = ("INTERACTION", "CHANNEL", "STATE", "QUEUE", "AGENT", "ENQUEUED", "CSAT")
    return head + "\n\n" + fmt.table(headers, rows)


def customer(client: RouterClient, args: argparse.Namespace) -> Output:
    found = client.get_customer(
        args.customer_id, page_size=args.page_size, page_token=args.page_token
    )
    return fmt.to_dict(found), customer_text(found)


HANDLERS: dict[str, Callable[[RouterClient, argparse.Namespace], Output]] = {
    "events": events,
    "customer": customer,
}


def register(add: Callable[[str, str], argparse.ArgumentParser]) -> None:
    p = add("events", "follow the tenant's routing events as they are stored")
    p.add_argument(
        "--type", type=_event_type, action="append", default=[], help="only this event type"
    )
    start = p.add_mutually_exclusive_group()
    start.add_argument("--after", default="", metavar="ID", help="resume after this event id")
    start.add_argument("--from-start", action="store_true", help="from the oldest kept")
    p.add_argument("--count", type=int, default=0, help="stop after this many (0: never)")

    p = add("customer", "a customer: totals, open interactions, interactions newest first")
    p.add_argument("customer_id", metavar="ID")
    p.add_argument("--page-size", type=int, default=0, help="1..1000 (0: 100)")
    p.add_argument("--page-token", default="", help="next page: the token printed")
