"""Between the domain and the wire, outward: records, events, notices, explanations and
statistics as the proto messages the service answers with."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2

from cim_router._pb import router_pb2 as pb
from cim_router.domain.agent import AgentState
from cim_router.domain.channel import Channel
from cim_router.domain.context import keys_only, masked
from cim_router.domain.interaction import (
    InteractionState,
    SkillRequirement,
)
from cim_router.domain.limits import (
    MAX_PAGE_BYTES,
)
from cim_router.routing.explain import Candidate, Explanation
from cim_router.service.auth import Principal, Role, current_principal
from cim_router.service.convert import page_token_out
from cim_router.tenant.forget import Forgotten
from cim_router.tenant.holds import hold_seconds_now
from cim_router.tenant.measures import measures
from cim_router.tenant.records import AgentRecord, Event, InteractionRecord
from cim_router.tenant.watch import Notice
from cim_router.tenant.windows import MeasureRow

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


def channel_out(channel: Channel) -> pb.Channel.ValueType:
    return pb.Channel.ValueType(int(channel) + 1)


def agent_state_out(state: AgentState) -> pb.AgentState.ValueType:
    return pb.AgentState.ValueType(int(state) + 1)


def timestamp(seconds: float) -> timestamp_pb2.Timestamp | None:
    if seconds <= 0:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(round(seconds * 1e9))
    return ts


def struct_out(context: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    if context:
        out.update(context)
    return out


def requirements_out(reqs: Iterable[SkillRequirement]) -> list[pb.SkillRequirement]:
    return [pb.SkillRequirement(skill=r.skill, min_level=r.min_level) for r in reqs]


def _counts_out(values: dict[Channel, int]) -> list[pb.ChannelCount]:
    return [pb.ChannelCount(channel=channel_out(c), count=n) for c, n in sorted(values.items())]


def agents_page_out(found: Sequence[AgentRecord], more: bool) -> pb.ListAgentsResponse:
    """A page of agents; cut short before it passes MAX_PAGE_BYTES, when the token resumes
    after the last agent it holds."""
    agents: list[pb.Agent] = []
    size = 0
    for rec in found:
        agent = agent_out(rec)
        size += agent.ByteSize() + 6  # and its field tag and length
        if size > MAX_PAGE_BYTES and agents:
            more = True
            break
        agents.append(agent)
    token = page_token_out(agents[-1].id) if more and agents else ""
    return pb.ListAgentsResponse(agents=agents, next_page_token=token)


def interactions_page_out(
    found: Sequence[InteractionRecord],
    more: bool,
    offset: int,
    sensitive: frozenset[str],
    now: float = 0.0,
) -> pb.ListInteractionsResponse:
    """A page of interactions (no history); cut short before it passes MAX_PAGE_BYTES, when
    the token resumes after the last one it holds."""
    out: list[pb.Interaction] = []
    size = 0
    for rec in found:
        message = interaction_out(rec, (), sensitive, now=now)
        size += message.ByteSize() + 6
        if size > MAX_PAGE_BYTES and out:
            more = True
            break
        out.append(message)
    token = page_token_out(str(offset + len(out))) if more and out else ""
    return pb.ListInteractionsResponse(interactions=out, next_page_token=token)


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
        routing_profile=[
            pb.QueueMembership(queue_id=q, priority=m.priority, delay_seconds=m.delay_seconds)
            for q, m in a.routing_profile.items()
        ],
    )


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
        caller=e.caller,
        queue_id=e.queue_id,
        rule=e.rule,
    )


def context_for(
    rec: InteractionRecord,
    sensitive: frozenset[str],
    reader: Principal | None = None,
    values: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The context (or other `values` of the interaction) as `reader` (the call's
    principal) may read it: a viewer sees keys only; an agent's key sees the values of
    sensitive keys only of an interaction offered to or held by its agent; the router and
    admin roles see every value."""
    context = rec.interaction.context if values is None else values
    if not context:
        return context
    role = (reader or current_principal.get()).role
    if role is Role.VIEWER:
        return keys_only(context)
    if role is Role.AGENT and sensitive:
        agent_id = (reader or current_principal.get()).agent_id
        offered = rec.offer.agent_id if rec.offer is not None else ""
        if agent_id not in (rec.agent_id, offered) or not agent_id:
            return masked(context, sensitive)
    return context


def _callback_out(rec: InteractionRecord, reader: Principal | None) -> pb.Callback:
    """The callback; its address is read as a sensitive context value is."""
    cb = rec.callback
    assert cb is not None
    shown = context_for(
        InteractionRecord(rec.interaction, rec.agent_id, rec.offer),
        frozenset({"address"}),
        reader,
        {"address": cb.address},
    )
    return pb.Callback(
        address=str(shown["address"]),
        max_attempts=cb.max_attempts,
        retry_seconds=cb.retry_seconds,
        requested_at=timestamp(cb.requested_at),
        attempts=[
            pb.CallbackAttempt(at=timestamp(a.at), outcome=a.outcome, agent_id=a.agent_id)
            for a in cb.attempts
        ],
    )


def interaction_out(
    rec: InteractionRecord,
    history: Iterable[Event] = (),
    sensitive: frozenset[str] = frozenset(),
    reader: Principal | None = None,
    now: float = 0.0,
) -> pb.Interaction:
    """The interaction as the reader may see it (see `context_for`; a viewer never sees
    the feedback's comment or fields). A running hold counts up to `now` (0: not at all)."""
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
        context=struct_out(context_for(rec, sensitive, reader)),
        state=_state_out(i.state),
        agent_id=rec.agent_id,
        linked_interaction_id=rec.linked_interaction_id,
        disposition=rec.disposition,
        csat=rec.csat,
        history=[event_out(e) for e in history],
        queue_id=i.queue_id,
        tags=rec.tags,
        direction=pb.DIRECTION_OUTBOUND if rec.outbound else pb.DIRECTION_INBOUND,
        on_hold=bool(rec.hold_started_at),
        hold_started_at=timestamp(rec.hold_started_at),
        hold_count=rec.hold_count,
        hold_seconds=hold_seconds_now(rec, max(now, rec.hold_started_at)),
        completed_at=timestamp(rec.completed_at),
    )
    if rec.not_before:
        out.not_before.FromNanoseconds(int(rec.not_before * 1e9))
    if rec.callback is not None:
        out.callback.CopyFrom(_callback_out(rec, reader))
    if (rec.feedback_comment or rec.feedback_fields) and (
        reader or current_principal.get()
    ).role is not Role.VIEWER:
        out.feedback_comment = rec.feedback_comment
        out.feedback_fields.update(rec.feedback_fields)
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


def notice_out(
    n: Notice, sensitive: frozenset[str] = frozenset(), reader: Principal | None = None
) -> pb.AssignmentEvent:
    return pb.AssignmentEvent(
        type=pb.AssignmentEventType.ValueType(int(n.type)),
        agent_id=n.agent_id,
        interaction=interaction_out(n.record, (), sensitive, reader, now=n.at),
        at=timestamp(n.at),
    )


def forgotten_out(f: Forgotten) -> pb.ForgetCustomerResponse:
    return pb.ForgetCustomerResponse(
        customer_id=f.customer_id,
        interaction_ids=list(f.interaction_ids),
        history_events_erased=f.history_events,
        stream_events_erased=f.stream_events,
        customer_index_erased=f.index_erased,
    )


QUARANTINE_LISTED = 100  # quarantined records named in the stats; all are counted


def _candidate_out(c: Candidate | None) -> pb.Candidate | None:
    if c is None:
        return None
    return pb.Candidate(agent_id=c.agent_id, score=c.score, terms=c.terms)


def explanation_out(
    e: Explanation,
    live: bool,
    chosen: str,
    queue_id: str = "",
    queue_open: bool = True,
    rules_fired: Sequence[str] = (),
) -> pb.Explanation:
    return pb.Explanation(
        queue_id=queue_id,
        queue_open=queue_open,
        rules_fired=rules_fired,
        interaction_id=e.interaction_id,
        at=timestamp(e.at),
        live=live,
        chosen_agent_id=chosen,
        relaxation_step=e.relaxation_step,
        urgency=e.urgency,
        urgency_base=e.parts.base,
        aging=e.parts.aging,
        service_level_boost=e.parts.service_level_boost,
        wait_bound_reached=e.parts.wait_bound_reached,
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
        held=s["held"],
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
        # Nothing to measure yet: 1, as this field always said (the measures rows leave
        # their service_level unset then).
        service_level=1.0 if s["service_level"] is None else s["service_level"],
        quarantined=len(s["quarantined"]),
        quarantined_records=s["quarantined"][:QUARANTINE_LISTED],
        measures=[measures_out(row) for row in s["measures"]],
    )


def measures_out(row: MeasureRow) -> pb.Measures:
    t = row.tally
    m = measures(t)
    return pb.Measures(
        queue_id=row.queue_id,
        channel=pb.CHANNEL_UNSPECIFIED if row.channel is None else channel_out(row.channel),
        window=row.window,
        since=timestamp(row.since),
        offered=t.offered,
        answered=t.answered,
        answered_in_sla=t.answered_in_sla,
        abandoned=t.abandoned,
        short_abandoned=t.short_abandoned,
        handled=t.handled,
        transferred=t.transferred,
        overflowed=t.overflowed,
        outbound=t.outbound,
        callbacks=t.callbacks,
        callback_attempts=t.callback_attempts,
        csat_count=t.csat_count,
        service_level=m["service_level"],
        asa_seconds=m["average_speed_of_answer"],
        aht_seconds=m["average_handle_time"],
        abandonment_rate=m["abandonment_rate"],
        transfer_rate=m["transfer_rate"],
        csat_mean=m["csat_mean"],
        first_contact_resolution=m["first_contact_resolution"],
        holds=t.holds,
        hold_seconds=t.hold_seconds,
        average_hold_seconds=m["average_hold_time"],
        occupancy=row.occupancy,
        waiting=row.waiting,
        longest_wait_seconds=row.longest_wait,
    )
