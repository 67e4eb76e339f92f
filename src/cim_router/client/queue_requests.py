"""Queue requests from keyword arguments: queues (with hours in the policy file's shape),
routing profiles and ListInteractions; shared by the async and the sync client."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cim_router._pb import router_pb2 as pb
from cim_router.client.names import INTERACTION_STATES, ChannelLike, channel
from cim_router.client.requests import Skills, requirements

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# A routing profile: queue ids (priority 10, no delay), or queue id -> priority, or
# queue id -> (priority, delay in seconds).
Profile = Mapping[str, int | tuple[int, float]] | Iterable[str]


def profile(given: Profile | None) -> list[pb.QueueMembership]:
    if given is None:
        return []
    if isinstance(given, str):
        given = [given]
    if not isinstance(given, Mapping):
        return [pb.QueueMembership(queue_id=q) for q in given]
    out = []
    for queue_id, value in given.items():
        priority, delay = (value, 0.0) if isinstance(value, int) else value
        out.append(pb.QueueMembership(queue_id=queue_id, priority=priority, delay_seconds=delay))
    return out


def hours(table: Mapping[str, Any] | None) -> pb.Hours | None:
    """`{"time_zone": "Europe/Paris", "mon": ["09:00-17:00"], ..., "exceptions":
    {"2026-12-25": []}}` (the policy file's `hours` table) as the message."""
    if table is None:
        return None
    unknown = set(table) - {"time_zone", "exceptions", *DAYS}
    if unknown:
        raise ValueError(f"unknown hours keys: {', '.join(sorted(unknown))}")
    exceptions = table.get("exceptions", {})
    return pb.Hours(
        time_zone=str(table.get("time_zone", "")),
        weekly=[pb.DayHours(day=d, intervals=list(table[d])) for d in DAYS if d in table],
        exceptions=[
            pb.DateHours(date=str(date), intervals=list(spans))
            for date, spans in exceptions.items()
        ],
    )


RULE_KEYS = (
    "name",
    "when",
    "then",
    "threshold",
    "queue",
    "to_back",
    "skills",
    "priority",
    "disposition",
)
Rule = pb.OverflowRule | Mapping[str, Any]


def rule(given: Rule) -> pb.OverflowRule:
    """An overflow rule as the message, or from the policy file's shape: `{"name": "spill",
    "when": "waited", "threshold": 60, "then": "move", "queue": "backlog", "to_back":
    false}` (skills as {"skill": level} or a list of names); ValueError for an unknown key,
    condition or action (the server checks the rest)."""
    if isinstance(given, pb.OverflowRule):
        return given
    unknown = set(given) - set(RULE_KEYS)
    if unknown:
        raise ValueError(f"unknown overflow rule keys: {', '.join(sorted(unknown))}")
    return pb.OverflowRule(
        name=str(given.get("name", "")),
        when=_enum(pb.OverflowCondition, "OVERFLOW_CONDITION_", given.get("when", "")),
        threshold=float(given.get("threshold", 0.0)),
        then=_enum(pb.OverflowAction, "OVERFLOW_ACTION_", given.get("then", "")),
        queue_id=str(given.get("queue", "")),
        to_back=bool(given.get("to_back", False)),
        skills=requirements(given.get("skills")),
        priority=int(given.get("priority", 0)),
        disposition=str(given.get("disposition", "")),
    )


def _enum(kind: Any, prefix: str, name: object) -> Any:
    try:
        return kind.Value(prefix + str(name).upper())
    except ValueError:
        raise ValueError(f"unknown {prefix.lower().strip('_')}: {name!r}") from None


def queue(
    queue_id: str,
    *,
    display_name: str = "",
    channels: Sequence[ChannelLike] = (),
    required: Skills | None = None,
    preferred: Skills | None = None,
    priority: int = 0,
    sla_seconds: float = 0.0,
    sla_share: float = 0.0,
    max_size: int = 0,
    max_wait_seconds: float = 0.0,
    hours_: Mapping[str, Any] | None = None,
    overflow: Sequence[Rule] = (),
) -> pb.UpsertQueueRequest:
    return pb.UpsertQueueRequest(
        queue=pb.Queue(
            id=queue_id,
            display_name=display_name,
            channels=[channel(c) for c in channels],
            required_skills=requirements(required),
            preferred_skills=requirements(preferred),
            priority=priority,
            service_level=pb.ServiceLevelTarget(seconds=sla_seconds, share=sla_share),
            max_size=max_size,
            max_wait_seconds=max_wait_seconds,
            hours=hours(hours_),
            overflow=[rule(r) for r in overflow],
        )
    )


def list_interactions(
    *,
    queue_id: str,
    state: str | int | None,
    channel_: ChannelLike | None,
    customer_id: str,
    page_size: int,
    page_token: str,
) -> pb.ListInteractionsRequest:
    return pb.ListInteractionsRequest(
        queue_id=queue_id,
        state=pb.InteractionState.ValueType(
            0 if state is None else INTERACTION_STATES.value(state)
        ),
        channel=pb.CHANNEL_UNSPECIFIED if channel_ is None else channel(channel_),
        customer_id=customer_id,
        page_size=page_size,
        page_token=page_token,
    )
