"""Records to JSON and back, as the Redis store keeps them.

Short keys keep the hot writes small; every record type has one `*_out` and one `*_in`.
A field missing from stored JSON takes its default, so records written by an older version
still load. Interaction records, customer records and history events are written in the
compact encoding (compact.py) unless the settings say JSON; their readers here take
either, by the first byte.
"""

from __future__ import annotations

from typing import Any

import orjson

from cim_router.domain.agent import Agent, AgentState
from cim_router.domain.channel import CHANNELS, Channel
from cim_router.domain.interaction import (
    DEFAULT_QUEUE,
    Interaction,
    InteractionState,
    SkillRequirement,
)
from cim_router.domain.queue_tables import queue_from_mapping, queue_to_mapping
from cim_router.domain.queues import Membership, Queue
from cim_router.routing.explain import Candidate, Explanation, UrgencyParts
from cim_router.store import compact
from cim_router.tenant.records import (
    AgentRecord,
    Callback,
    CallbackAttempt,
    CustomerRecord,
    Event,
    EventType,
    InteractionRecord,
    Offer,
    PendingTransfer,
    RequestOutcome,
    TransferMode,
)


def _per_channel(values: dict[Channel, int]) -> list[int]:
    return [values.get(c, 0) for c in CHANNELS]


def _from_channels(values: list[int]) -> dict[Channel, int]:
    # Few distinct: copying a dict made once skips hashing the enum keys again.
    key = tuple(values)
    found = _PER_CHANNEL.get(key)
    if found is None:
        found = {c: int(v) for c, v in zip(CHANNELS, values, strict=False)}
        if len(_PER_CHANNEL) < 10_000:
            _PER_CHANNEL[key] = found
    return dict(found)


_PER_CHANNEL: dict[tuple[int, ...], dict[Channel, int]] = {}


# Enum members by value: indexing a tuple is several times cheaper than calling the enum,
# which matters when a restart decodes 100,000 records.
_CHANNEL = tuple(Channel)
_ISTATE = tuple(InteractionState)
_ASTATE = tuple(AgentState)
# Requirements are immutable and few distinct: decoded ones are shared.
_REQS: dict[tuple[str, int], SkillRequirement] = {}


def _reqs_out(reqs: tuple[SkillRequirement, ...]) -> list[list[Any]]:
    return [[r.skill, r.min_level] for r in reqs]


def _req(skill: str, level: int) -> SkillRequirement:
    found = _REQS.get((skill, level))
    if found is None:
        found = SkillRequirement(str(skill), int(level))
        if len(_REQS) < 100_000:
            _REQS[(skill, level)] = found
    return found


def _reqs_in(reqs: list[list[Any]]) -> tuple[SkillRequirement, ...]:
    return tuple([_req(s, level) for s, level in reqs])


# --- agents -------------------------------------------------------------------------------


def agent_out(rec: AgentRecord) -> bytes:
    a = rec.agent
    return orjson.dumps(
        {
            "id": a.id,
            "name": a.display_name,
            "skills": a.skills,
            "tier": a.tier,
            "cap": _per_channel(a.capacity),
            "state": int(a.state),
            "nr": a.not_ready_reason,
            "load": _per_channel(a.load),
            "idle": a.idle_since,
            "ht": [[s, int(c), v] for (s, c), v in a.handle_time.items()],
            "missed": rec.missed_offers,
            "wrap": rec.wrap_up_until,
            **(
                {"prof": [[q, m.priority, m.delay_seconds] for q, m in a.routing_profile.items()]}
                if a.routing_profile
                else {}
            ),
        }
    )


def agent_in(data: bytes | str) -> AgentRecord:
    d = orjson.loads(data)
    agent = Agent(
        id=d["id"],
        display_name=d.get("name", ""),
        skills={str(k): int(v) for k, v in d.get("skills", {}).items()},
        tier=int(d.get("tier", 1)),
        capacity=_from_channels(d["cap"]),
        state=_ASTATE[d.get("state", 0)],
        not_ready_reason=d.get("nr", ""),
        load={c: n for c, n in _from_channels(d.get("load", [])).items() if n},
        idle_since=float(d.get("idle", 0.0)),
        handle_time={(str(s), _CHANNEL[c]): float(v) for s, c, v in d.get("ht", [])},
        routing_profile={str(q): Membership(int(p), float(w)) for q, p, w in d.get("prof", [])},
    )
    return AgentRecord(agent, int(d.get("missed", 0)), float(d.get("wrap", 0.0)))


# --- interactions -------------------------------------------------------------------------


def _candidate_out(c: Candidate | None) -> list[Any] | None:
    return None if c is None else [c.agent_id, c.score, c.terms]


def _candidate_in(c: list[Any] | None) -> Candidate | None:
    return None if c is None else Candidate(c[0], float(c[1]), dict(c[2]))


def _explanation_out(e: Explanation | None) -> dict[str, Any] | None:
    if e is None:
        return None
    return {
        "at": e.at,
        "step": e.relaxation_step,
        "urgency": e.urgency,
        "considered": e.agents_considered,
        "eligible": e.eligible,
        "excl": e.exclusions,
        "win": _candidate_out(e.winner),
        "run": _candidate_out(e.runner_up),
        "parts": [
            e.parts.base,
            e.parts.aging,
            e.parts.service_level_boost,
            e.parts.wait_bound_reached,
        ],
    }


def _explanation_in(interaction_id: str, d: dict[str, Any] | None) -> Explanation | None:
    if d is None:
        return None
    return Explanation(
        interaction_id=interaction_id,
        at=float(d["at"]),
        relaxation_step=int(d["step"]),
        urgency=float(d["urgency"]),
        agents_considered=int(d["considered"]),
        eligible=int(d["eligible"]),
        exclusions={str(k): int(v) for k, v in d.get("excl", {}).items()},
        winner=_candidate_in(d.get("win")),
        runner_up=_candidate_in(d.get("run")),
        parts=_parts_in(d.get("parts")),
    )


def _parts_in(p: list[Any] | None) -> UrgencyParts:
    """Recorded before the parts were: all zero."""
    if p is None:
        return UrgencyParts()
    return UrgencyParts(float(p[0]), float(p[1]), float(p[2]), bool(p[3]))


def interaction_out(rec: InteractionRecord) -> bytes:
    i = rec.interaction
    d: dict[str, Any] = {
        "id": i.id,
        "ch": int(i.channel),
        "cust": i.customer_id,
        "req": _reqs_out(i.required),
        "pref": _reqs_out(i.preferred),
        "prio": i.priority,
        "ctier": i.customer_tier,
        "sla": i.sla_seconds,
        "enq": i.enqueued_at,
        "esc": i.escalation_level,
        "pagent": i.preferred_agent,
        "excl": sorted(i.excluded_agents),
        "exu": rec.exclusions,
        "ctx": i.context,
        "state": int(i.state),
        "agent": rec.agent_id,
        "link": rec.linked_interaction_id,
        "disp": rec.disposition,
        "csat": rec.csat,
        "assigned": rec.assigned_at,
        "answered": rec.answered,
        "wrap": rec.wrap_up_until,
        "digest": rec.request_digest.hex(),
        "arrival": rec.arrival,
    }
    if i.queue_id != DEFAULT_QUEUE:
        d["q"] = i.queue_id
    if rec.repeat:
        d["rep"] = True
    if rec.offer is not None:
        o = rec.offer
        d["offer"] = [o.agent_id, int(o.channel), o.offered_at, o.expires_at, o.transfer]
    if rec.transfer is not None:
        t = rec.transfer
        d["xfer"] = [int(t.mode), t.target_agent, int(t.channel), _reqs_out(t.required), t.reason]
    if rec.explanation is not None:
        d["why"] = _explanation_out(rec.explanation)
    if rec.rules_fired:
        d["rules"] = list(rec.rules_fired)
    if rec.tags:
        d["tags"] = list(rec.tags)
    if rec.outbound:
        d["out"] = True
    if rec.not_before:
        d["nb"] = rec.not_before
    if rec.callback is not None:
        cb = rec.callback
        d["cb"] = [
            cb.address,
            cb.max_attempts,
            cb.retry_seconds,
            cb.requested_at,
            [[a.at, a.outcome, a.agent_id] for a in cb.attempts],
        ]
    if rec.hold_count:
        d["hold"] = [rec.hold_started_at, rec.hold_count, rec.hold_seconds, rec.hold_limit_raised]
    if rec.completed_at:
        d["done"] = rec.completed_at
    if rec.feedback_comment or rec.feedback_fields:
        d["fb"] = [rec.feedback_comment, rec.feedback_fields]
    return orjson.dumps(d)


def interaction_in(data: bytes | str, tenant: str) -> InteractionRecord:
    if compact.is_compact(data):
        return compact.interaction_in(data, tenant)
    d = orjson.loads(data)
    i = Interaction(
        id=d["id"],
        channel=_CHANNEL[d["ch"]],
        tenant=tenant,
        customer_id=d.get("cust", ""),
        required=_reqs_in(d.get("req", [])),
        preferred=_reqs_in(d.get("pref", [])),
        priority=int(d.get("prio", 0)),
        customer_tier=d.get("ctier", "standard"),
        sla_seconds=float(d.get("sla", 0.0)),
        enqueued_at=float(d["enq"]),
        escalation_level=int(d.get("esc", 0)),
        preferred_agent=d.get("pagent", ""),
        excluded_agents=frozenset(d.get("excl", ())),
        context=d.get("ctx", {}),
        state=_ISTATE[d["state"]],
        queue_id=d.get("q", DEFAULT_QUEUE),
    )
    offer = d.get("offer")
    xfer = d.get("xfer")
    hold = d.get("hold") or (0.0, 0, 0.0, False)
    comment, answers = d.get("fb") or ("", {})
    return InteractionRecord(
        interaction=i,
        agent_id=d.get("agent", ""),
        offer=None
        if offer is None
        else Offer(offer[0], _CHANNEL[offer[1]], float(offer[2]), float(offer[3]), bool(offer[4])),
        transfer=None
        if xfer is None
        else PendingTransfer(
            TransferMode(xfer[0]), xfer[1], _CHANNEL[xfer[2]], _reqs_in(xfer[3]), xfer[4]
        ),
        linked_interaction_id=d.get("link", ""),
        disposition=d.get("disp", ""),
        csat=int(d.get("csat", 0)),
        assigned_at=float(d.get("assigned", 0.0)),
        answered=bool(d.get("answered", False)),
        wrap_up_until=float(d.get("wrap", 0.0)),
        request_digest=bytes.fromhex(d.get("digest", "")),
        explanation=_explanation_in(i.id, d.get("why")),
        arrival=int(d.get("arrival", 0)),
        # Records written before exclusions lapsed: 0, the tenant decides when at load.
        exclusions={str(a): float(d.get("exu", {}).get(a, 0.0)) for a in i.excluded_agents},
        rules_fired=tuple(str(x) for x in d.get("rules", ())),
        tags=tuple(str(x) for x in d.get("tags", ())),
        outbound=bool(d.get("out", False)),
        not_before=float(d.get("nb", 0.0)),
        callback=_callback_in(d.get("cb")),
        repeat=bool(d.get("rep", False)),
        hold_started_at=float(hold[0]),
        hold_count=int(hold[1]),
        hold_seconds=float(hold[2]),
        hold_limit_raised=bool(hold[3]),
        completed_at=float(d.get("done", 0.0)),
        feedback_comment=str(comment),
        feedback_fields={str(k): str(v) for k, v in answers.items()},
    )


def _callback_in(raw: Any) -> Callback | None:
    if raw is None:
        return None
    address, attempts, retry, requested, done = raw
    return Callback(
        str(address),
        int(attempts),
        float(retry),
        float(requested),
        tuple(CallbackAttempt(float(a), str(o), str(g)) for a, o, g in done),
    )


# --- events and customers -----------------------------------------------------------------


def event_out(e: Event) -> bytes:
    fields = [e.at, int(e.type), e.interaction_id, int(e.channel), e.agent_id, e.reason, e.caller]
    if e.queue_id or e.rule:
        fields.append(e.queue_id)
    if e.rule:
        fields.append(e.rule)
    return orjson.dumps(fields)


def history_event_in(data: bytes | str, interaction_id: str) -> Event:
    """An entry of `interaction_id`'s history, in either encoding."""
    if compact.is_compact(data):
        return compact.history_event_in(data, interaction_id)
    return event_in(data)


def event_in(data: bytes | str) -> Event:
    """An event as JSON: the stream's entries, and history entries written before the
    compact encoding."""
    fields = orjson.loads(data)
    at, type_, iid, channel, agent_id, reason = fields[:6]
    caller = str(fields[6]) if len(fields) > 6 else ""  # older events have none
    queue_id = str(fields[7]) if len(fields) > 7 else ""
    rule = str(fields[8]) if len(fields) > 8 else ""
    return Event(
        float(at),
        EventType(type_),
        iid,
        _CHANNEL[channel],
        agent_id,
        reason,
        caller,
        queue_id,
        rule,
    )


# --- queues -------------------------------------------------------------------------------


def queue_out(q: Queue) -> bytes:
    return orjson.dumps(queue_to_mapping(q))


def queue_in(queue_id: str, data: bytes | str) -> Queue:
    """Raises ValidationError (or ValueError) for a record that is not a valid queue."""
    return queue_from_mapping(queue_id, orjson.loads(data), "queue")


def event_interaction(data: bytes | str) -> str:
    """The interaction an encoded event names."""
    return str(orjson.loads(data)[2])


def customer_out(c: CustomerRecord) -> bytes:
    return orjson.dumps([c.last_interaction_id, c.last_agent_id, c.last_served_at])


def customer_in(customer_id: str, data: bytes | str) -> CustomerRecord:
    if compact.is_compact(data):
        return compact.customer_in(customer_id, data)
    last, agent_id, served = orjson.loads(data)
    return CustomerRecord(customer_id, last, agent_id, float(served))


def request_out(r: RequestOutcome) -> bytes:
    return orjson.dumps([r.method, r.digest.hex(), r.entity, r.created])


def request_in(request_id: str, data: bytes | str) -> RequestOutcome:
    method, digest, entity, created = orjson.loads(data)
    return RequestOutcome(
        request_id, str(method), bytes.fromhex(digest), str(entity), bool(created)
    )
