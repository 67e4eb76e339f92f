"""Between the wire and the domain: proto messages in and out, input checked on the way in.

Every check names the request field at fault, as the client spelled it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from typing import Any

from google.protobuf import json_format, struct_pb2, timestamp_pb2
from google.protobuf.message import Message

from cim_router._pb import router_pb2 as pb
from cim_router.domain.agent import Agent, AgentState
from cim_router.domain.channel import DEFAULT_CAPACITY, Channel
from cim_router.domain.errors import ValidationError
from cim_router.domain.interaction import Interaction, InteractionState, SkillRequirement
from cim_router.domain.limits import check_id
from cim_router.routing.explain import Candidate, Explanation
from cim_router.service.contexts import check_context
from cim_router.service.errors import InvalidArgument
from cim_router.service.records import AgentRecord, Event, InteractionRecord, TransferMode
from cim_router.service.watch import Notice

# Domain field names -> request field names, most specific first.
_FIELD_NAMES = (
    ("interaction.preferred_agent", "preferred_agent_id"),
    ("interaction.required", "required_skills"),
    ("interaction.preferred", "preferred_skills"),
    ("interaction.id", "interaction_id"),
    ("interaction.", ""),
    ("agent.id", "agent_id"),
    ("agent.", ""),
)


def invalid(exc: ValidationError) -> InvalidArgument:
    """A domain validation error as the request's field names put it."""
    field = exc.field
    for domain, wire in _FIELD_NAMES:
        if field.startswith(domain):
            field = wire + field[len(domain) :]
            break
    return InvalidArgument(field, exc.reason)


def require_id(field: str, value: str) -> str:
    try:
        check_id(field, value)
    except ValidationError as exc:
        raise InvalidArgument(field, exc.reason) from None
    return value


def optional_id(field: str, value: str) -> str:
    return require_id(field, value) if value else ""


def digest(message: Message) -> bytes:
    return hashlib.sha256(message.SerializeToString(deterministic=True)).digest()


# --- enums ----------------------------------------------------------------------------------


def channel_in(value: int, field: str, required: bool = True) -> Channel | None:
    if value == pb.CHANNEL_UNSPECIFIED:
        if required:
            raise InvalidArgument(field, "is required")
        return None
    if value not in _CHANNEL_VALUES:
        raise InvalidArgument(field, f"unknown channel {value}")
    return _CHANNELS[value - 1]


_CHANNEL_VALUES = frozenset(pb.Channel.values())
_CHANNELS = tuple(Channel)


def channel_out(channel: Channel) -> pb.Channel.ValueType:
    return pb.Channel.ValueType(int(channel) + 1)


def agent_state_in(value: int, field: str) -> AgentState | None:
    if value == pb.AGENT_STATE_UNSPECIFIED:
        return None
    if value not in pb.AgentState.values():
        raise InvalidArgument(field, f"unknown agent state {value}")
    return AgentState(value - 1)


def agent_state_out(state: AgentState) -> pb.AgentState.ValueType:
    return pb.AgentState.ValueType(int(state) + 1)


def transfer_mode_in(value: int) -> TransferMode:
    if value == pb.TRANSFER_MODE_UNSPECIFIED:
        raise InvalidArgument("mode", "is required (WARM or COLD)")
    if value not in pb.TransferMode.values():
        raise InvalidArgument("mode", f"unknown transfer mode {value}")
    return TransferMode(value)


# --- small values ---------------------------------------------------------------------------


def timestamp(seconds: float) -> timestamp_pb2.Timestamp | None:
    if seconds <= 0:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(round(seconds * 1e9))
    return ts


def struct_in(value: struct_pb2.Struct, field: str = "context") -> dict[str, Any]:
    if not value.fields:
        return {}
    context: dict[str, Any] = json_format.MessageToDict(value)
    check_context(context, field)
    return context


def struct_out(context: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    if context:
        out.update(context)
    return out


def requirements_in(
    reqs: Sequence[pb.SkillRequirement], field: str
) -> tuple[SkillRequirement, ...]:
    # Further rules (names, levels, duplicates) are the domain's and name the field there.
    return tuple(SkillRequirement(r.skill, r.min_level or 1) for r in reqs)


def requirements_out(reqs: Iterable[SkillRequirement]) -> list[pb.SkillRequirement]:
    return [pb.SkillRequirement(skill=r.skill, min_level=r.min_level) for r in reqs]


def _counts_out(values: dict[Channel, int]) -> list[pb.ChannelCount]:
    return [pb.ChannelCount(channel=channel_out(c), count=n) for c, n in sorted(values.items())]


# --- agents ---------------------------------------------------------------------------------


def agent_in(req: pb.UpsertAgentRequest) -> tuple[Agent, AgentState | None]:
    require_id("agent_id", req.agent_id)
    capacity = dict(DEFAULT_CAPACITY)
    for k, entry in enumerate(req.capacity):
        channel = channel_in(entry.channel, f"capacity[{k}].channel")
        assert channel is not None
        capacity[channel] = entry.count
    agent = Agent(
        id=req.agent_id,
        display_name=req.display_name,
        skills=dict(req.skills),
        tier=req.tier or 1,
        capacity=capacity,
    )
    try:
        agent.validate()
    except ValidationError as exc:
        raise invalid(exc) from None
    return agent, agent_state_in(req.state, "state")


def agent_out(rec: AgentRecord) -> pb.Agent:
    a = rec.agent
    return pb.Agent(
        id=a.id,
        display_name=a.display_name,
        skills=a.skills,
        tier=a.tier,
        capacity=_counts_out(a.capacity),
        state=agent_state_out(a.state),
        not_ready_reason=a.not_ready_reason,
        load=_counts_out({c: n for c, n in a.load.items() if n}),
        idle_since=timestamp(a.idle_since),
        missed_offers=rec.missed_offers,
        wrap_up_until=timestamp(rec.wrap_up_until),
    )


# --- interactions ---------------------------------------------------------------------------


def interaction_in(req: pb.EnqueueRequest) -> Interaction:
    require_id("interaction_id", req.interaction_id)
    optional_id("customer_id", req.customer_id)
    channel = channel_in(req.channel, "channel")
    assert channel is not None
    if not math.isfinite(req.sla_seconds) or req.sla_seconds < 0:
        raise InvalidArgument("sla_seconds", "must be a finite number >= 0")
    interaction = Interaction(
        id=req.interaction_id,
        channel=channel,
        customer_id=req.customer_id,
        required=requirements_in(req.required_skills, "required_skills"),
        preferred=requirements_in(req.preferred_skills, "preferred_skills"),
        priority=req.priority,
        customer_tier=req.customer_tier or "standard",
        sla_seconds=req.sla_seconds,
        preferred_agent=req.preferred_agent_id,
        context=struct_in(req.context),
    )
    try:
        interaction.validate()
    except ValidationError as exc:
        raise invalid(exc) from None
    return interaction


def _state_out(state: InteractionState) -> pb.InteractionState.ValueType:
    return pb.InteractionState.ValueType(int(state) + 1)


def event_out(e: Event) -> pb.HistoryEvent:
    return pb.HistoryEvent(
        at=timestamp(e.at),
        type=pb.EventType.ValueType(int(e.type)),
        interaction_id=e.interaction_id,
        channel=channel_out(e.channel),
        agent_id=e.agent_id,
        reason=e.reason,
    )


def interaction_out(rec: InteractionRecord, history: Iterable[Event] = ()) -> pb.Interaction:
    i = rec.interaction
    out = pb.Interaction(
        id=i.id,
        customer_id=i.customer_id,
        channel=channel_out(i.channel),
        required_skills=requirements_out(i.required),
        preferred_skills=requirements_out(i.preferred),
        priority=i.priority,
        customer_tier=i.customer_tier,
        sla_seconds=i.sla_seconds,
        enqueued_at=timestamp(i.enqueued_at),
        escalation_level=i.escalation_level,
        preferred_agent_id=i.preferred_agent,
        excluded_agent_ids=sorted(i.excluded_agents),
        context=struct_out(i.context),
        state=_state_out(i.state),
        agent_id=rec.agent_id,
        linked_interaction_id=rec.linked_interaction_id,
        disposition=rec.disposition,
        csat=rec.csat,
        history=[event_out(e) for e in history],
    )
    if rec.offer is not None:
        o = rec.offer
        out.offer.CopyFrom(
            pb.Offer(
                agent_id=o.agent_id,
                channel=channel_out(o.channel),
                offered_at=timestamp(o.offered_at),
                expires_at=timestamp(o.expires_at),
                transfer=o.transfer,
            )
        )
    if rec.transfer is not None:
        t = rec.transfer
        out.transfer.CopyFrom(
            pb.PendingTransfer(
                mode=pb.TransferMode.ValueType(int(t.mode)),
                agent_id=t.target_agent,
                channel=channel_out(t.channel),
                required_skills=requirements_out(t.required),
                reason=t.reason,
            )
        )
    return out


def notice_out(n: Notice) -> pb.AssignmentEvent:
    return pb.AssignmentEvent(
        type=pb.AssignmentEventType.ValueType(int(n.type)),
        agent_id=n.agent_id,
        interaction=interaction_out(n.record),
        at=timestamp(n.at),
    )


QUARANTINE_LISTED = 100  # quarantined records named in the stats; all are counted

# --- operations -----------------------------------------------------------------------------


def _candidate_out(c: Candidate | None) -> pb.Candidate | None:
    if c is None:
        return None
    return pb.Candidate(agent_id=c.agent_id, score=c.score, terms=c.terms)


def explanation_out(e: Explanation, live: bool, chosen: str) -> pb.Explanation:
    return pb.Explanation(
        interaction_id=e.interaction_id,
        at=timestamp(e.at),
        live=live,
        chosen_agent_id=chosen,
        relaxation_step=e.relaxation_step,
        urgency=e.urgency,
        agents_considered=e.agents_considered,
        eligible=e.eligible,
        exclusions=e.exclusions,
        winner=_candidate_out(e.winner),
        runner_up=_candidate_out(e.runner_up),
    )


def stats_out(s: dict[str, Any]) -> pb.Stats:
    return pb.Stats(
        at=timestamp(s["at"]),
        waiting=s["waiting"],
        waiting_by_channel=_counts_out(s["by_channel"]),
        waiting_by_skill=[
            pb.SkillCount(skill=k, count=n) for k, n in sorted(s["by_skill"].items())
        ],
        longest_wait_seconds=s["longest_wait"],
        agents_by_state=[
            pb.AgentStateCount(state=agent_state_out(st), count=n)
            for st, n in sorted(s["by_state"].items())
        ],
        offered=s["offered"],
        answered=s["answered"],
        abandoned=s["abandoned"],
        completed=s["completed"],
        service_level=s["service_level"],
        quarantined=len(s["quarantined"]),
        quarantined_records=s["quarantined"][:QUARANTINE_LISTED],
    )
