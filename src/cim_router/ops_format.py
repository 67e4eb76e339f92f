"""Text for the operator CLI: aligned tables and field blocks from the router's messages,
and the JSON form of a message for `--json`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import timezone
from typing import Any

from google.protobuf import json_format, timestamp_pb2
from google.protobuf.message import Message

from cim_router._pb import router_pb2 as pb
from cim_router.client.names import (
    agent_state_name,
    channel_name,
    event_name,
    interaction_state_name,
)


def to_dict(message: Message) -> dict[str, Any]:
    """The proto3 JSON mapping, with field names as in the .proto and zero values shown."""
    try:
        return json_format.MessageToDict(
            message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
    except TypeError:  # protobuf < 5.26 names the option differently
        old: dict[str, Any] = {"including_default_value_fields": True}
        return json_format.MessageToDict(message, preserving_proto_field_name=True, **old)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Columns padded to their widest cell, two spaces apart."""
    cells = [list(headers)] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[k]) for row in cells) for k in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def fields(pairs: Iterable[tuple[str, object]]) -> str:
    """`name:  value` lines, values aligned; empty values are left out."""
    shown = [(k, str(v)) for k, v in pairs if v not in ("", None)]
    width = max((len(k) for k, _ in shown), default=0) + 1
    return "\n".join(f"{k + ':':<{width}}  {v}" for k, v in shown)


def when(ts: timestamp_pb2.Timestamp, *, millis: bool = False) -> str:
    """A timestamp in local time; "" when unset."""
    if not ts.seconds and not ts.nanos:
        return ""
    local = ts.ToDatetime(tzinfo=timezone.utc).astimezone()
    if millis:
        return local.strftime("%H:%M:%S.%f")[:-3]
    return local.strftime("%Y-%m-%d %H:%M:%S")


def skills(values: Mapping[str, int]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(values.items()))


def requirements(reqs: Iterable[pb.SkillRequirement]) -> str:
    return ",".join(f"{r.skill}>={r.min_level or 1}" for r in reqs)


def counts(values: Iterable[pb.ChannelCount]) -> str:
    return ",".join(f"{channel_name(c.channel)}={c.count}" for c in values)


def agent_state(agent: pb.Agent) -> str:
    state = agent_state_name(agent.state)
    return f"{state} ({agent.not_ready_reason})" if agent.not_ready_reason else state


def agents(items: Sequence[pb.Agent]) -> str:
    if not items:
        return "no agents"
    headers = ("ID", "STATE", "TIER", "SKILLS", "LOAD", "NAME")
    rows = [
        [
            a.id,
            agent_state(a),
            a.tier,
            skills(a.skills) or "-",
            counts(a.load) or "-",
            a.display_name,
        ]
        for a in items
    ]
    return table(headers, rows)


def agent(a: pb.Agent) -> str:
    return fields(
        [
            ("agent", a.id),
            ("name", a.display_name),
            ("state", agent_state(a)),
            ("tier", a.tier),
            ("skills", skills(a.skills)),
            ("capacity", counts(a.capacity)),
            ("load", counts(a.load)),
            ("missed offers", a.missed_offers or ""),
            ("idle since", when(a.idle_since)),
            ("wrap-up until", when(a.wrap_up_until)),
        ]
    )


def interaction_summary(i: pb.Interaction) -> list[tuple[str, object]]:
    offer = ""
    if i.HasField("offer"):
        offer = f"{i.offer.agent_id} until {when(i.offer.expires_at)}"
        offer += " (transfer)" if i.offer.transfer else ""
    return [
        ("interaction", i.id),
        ("state", interaction_state_name(i.state)),
        ("channel", channel_name(i.channel)),
        ("queue", i.queue_id),
        ("agent", i.agent_id),
        ("offered to", offer),
    ]


def interaction(i: pb.Interaction) -> str:
    return fields(interaction_summary(i))


def enqueued(r: pb.EnqueueResponse) -> str:
    waiting = r.interaction.state == pb.INTERACTION_STATE_QUEUED
    return fields(
        [
            *interaction_summary(r.interaction),
            ("created", "yes" if r.created else "no (an earlier Enqueue of this id)"),
            ("position", r.position if waiting else ""),
            ("estimated wait", f"{r.estimated_wait_seconds:.0f} s" if waiting else ""),
        ]
    )


def interaction_detail(i: pb.Interaction) -> str:
    head = fields(
        [
            *interaction_summary(i),
            ("customer", i.customer_id),
            ("customer tier", i.customer_tier),
            ("priority", i.priority),
            ("escalation", i.escalation_level or ""),
            ("required", requirements(i.required_skills)),
            ("preferred", requirements(i.preferred_skills)),
            ("excluded", ",".join(i.excluded_agent_ids)),
            ("linked to", i.linked_interaction_id),
            ("enqueued", when(i.enqueued_at)),
            ("disposition", i.disposition),
            ("csat", i.csat or ""),
        ]
    )
    parts = [head]
    context = to_dict(i.context) if i.HasField("context") else {}
    if context:
        parts.append(
            "context:\n"
            + fields((f"  {k}", json.dumps(v, ensure_ascii=False)) for k, v in context.items())
        )
    if i.history:
        rows = [
            (
                when(e.at, millis=True),
                event_name(e.type),
                channel_name(e.channel) if e.channel else "",
                e.agent_id,
                e.reason if e.interaction_id in ("", i.id) else f"{e.reason} [{e.interaction_id}]",
            )
            for e in i.history
        ]
        parts.append("history:\n" + table(("TIME", "EVENT", "CHANNEL", "AGENT", "REASON"), rows))
    return "\n\n".join(parts)


def stats(s: pb.Stats) -> str:
    parts = [
        fields(
            [
                ("at", when(s.at)),
                ("waiting", s.waiting),
                ("longest wait", f"{s.longest_wait_seconds:.1f} s"),
                ("service level", f"{s.service_level:.1%}"),
                ("offered", s.offered),
                ("answered", s.answered),
                ("abandoned", s.abandoned),
                ("completed", s.completed),
            ]
        )
    ]
    if s.agents_by_state:
        rows = [(agent_state_name(c.state), c.count) for c in s.agents_by_state]
        parts.append(table(("AGENTS", "COUNT"), rows))
    if s.waiting_by_channel:
        rows = [(channel_name(c.channel), c.count) for c in s.waiting_by_channel]
        parts.append(table(("CHANNEL", "WAITING"), rows))
    if s.waiting_by_skill:
        parts.append(table(("SKILL", "WAITING"), [(c.skill, c.count) for c in s.waiting_by_skill]))
    if s.measures:
        parts.append(measures(s.measures))
    return "\n\n".join(parts)


MEASURE_COLUMNS = (
    *("QUEUE", "CHANNEL", "WINDOW", "OFFERED", "ANSWERED", "ABANDONED", "SL", "ASA", "AHT"),
    *("ABANDON", "CSAT", "FCR", "WAITING"),
)


def _opt(m: pb.Measures, name: str, pattern: str) -> str:
    """An optional measure, or "-" when there is nothing to measure."""
    return pattern.format(getattr(m, name)) if m.HasField(name) else "-"  # type: ignore[arg-type]


def measures(rows: Iterable[pb.Measures]) -> str:
    """The measures rows (docs/measures.md): "all" where a row spans every queue or channel."""
    return table(
        MEASURE_COLUMNS,
        [
            (
                m.queue_id or "all",
                channel_name(m.channel) if m.channel else "all",
                m.window,
                m.offered,
                m.answered,
                m.abandoned,
                _opt(m, "service_level", "{:.1%}"),
                _opt(m, "asa_seconds", "{:.1f} s"),
                _opt(m, "aht_seconds", "{:.0f} s"),
                _opt(m, "abandonment_rate", "{:.1%}"),
                _opt(m, "csat_mean", "{:.2f}"),
                _opt(m, "first_contact_resolution", "{:.1%}"),
                m.waiting,
            )
            for m in rows
        ],
    )


def explanation(e: pb.Explanation) -> str:
    parts = [
        fields(
            [
                ("interaction", e.interaction_id),
                ("decision", "live (still waiting)" if e.live else f"recorded {when(e.at)}"),
                ("chosen agent", e.chosen_agent_id or "none"),
                ("agents considered", e.agents_considered),
                ("eligible", e.eligible),
                ("relaxation step", e.relaxation_step),
                ("urgency", urgency_text(e)),
            ]
        )
    ]
    if e.exclusions:
        excluded = sorted(e.exclusions.items(), key=lambda kv: (-kv[1], kv[0]))
        parts.append(table(("EXCLUDED BECAUSE", "AGENTS"), excluded))
    candidates = [(role, c) for role, c in (("winner", e.winner), ("runner-up", e.runner_up))]
    shown = [(role, c) for role, c in candidates if c.agent_id]
    if shown:
        terms = sorted({t for _, c in shown for t in c.terms})
        rows = [
            (role, c.agent_id, f"{c.score:.3f}", *(f"{c.terms.get(t, 0.0):.3f}" for t in terms))
            for role, c in shown
        ]
        parts.append(table(("", "AGENT", "SCORE", *(t.upper() for t in terms)), rows))
    return "\n\n".join(parts)


def urgency_text(e: pb.Explanation) -> str:
    """Urgency with its parts: past the wait bound, that it outranks any priority."""
    if e.wait_bound_reached:
        return f"{e.urgency:.1f} (wait bound reached: ahead of any priority)"
    parts = f"priority {e.urgency_base:.1f} + aging {e.aging:.1f}"
    if e.service_level_boost:
        parts += f" + queue behind target {e.service_level_boost:.1f}"
    return f"{e.urgency:.1f} ({parts})"


def forgotten(f: pb.ForgetCustomerResponse) -> str:
    erased = ", ".join(f.interaction_ids) or "none"
    return fields(
        [
            ("customer", f.customer_id),
            ("interactions", f"{len(f.interaction_ids)} ({erased})"),
            ("history events", f.history_events_erased),
            ("stream events", f.stream_events_erased),
            ("customer index", "erased" if f.customer_index_erased else "held nothing"),
        ]
    )
