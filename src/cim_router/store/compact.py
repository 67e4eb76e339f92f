"""The compact record encoding: a version byte, then one msgpack array of the record's
fields by position.

JSON records start with `{` or `[`; these start with `VERSION` (a byte no JSON text starts
with), so the readers in codec.py tell the two apart by the first byte and read both.
Positions never change meaning: a later version appends, or takes a new version byte.

A closed interaction's record may hold its history (version 2, `FOLDED`): the version byte,
a msgpack array of the history's entries (each the bytes of one list entry, oldest first,
as the commit script packs them: msgpack str), then the record's array as in version 1.
The history comes first so that the commit script can find where the record starts
without decoding it.

Interaction records: the fields every record has, in `_CORE` order, then a map of the
rarer ones (`X_*` keys) holding only those that are set. Floats that are whole numbers are
written as integers (one byte for 0) and read back as floats. History events leave out
their interaction's id (the history's key names it) and trailing empty strings, and name
the router, the caller of most, as nil.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeGuard

import msgpack

from cim_router.domain.channel import Channel
from cim_router.domain.interaction import (
    DEFAULT_QUEUE,
    Interaction,
    InteractionState,
    SkillRequirement,
)
from cim_router.routing.explain import TERM_NAMES, Candidate, Explanation, UrgencyParts
from cim_router.tenant.records import (
    Callback,
    CallbackAttempt,
    CustomerRecord,
    Event,
    EventType,
    InteractionRecord,
    Offer,
    PendingTransfer,
    TransferMode,
)

VERSION = 1  # the first byte of every record in this encoding
FOLDED = 2  # the first byte of a closed interaction's record holding its history
_V = bytes([VERSION])
_VERSIONS = (VERSION, FOLDED)
_STANDARD = "standard"  # the customer tier most records have: written as nil
_ROUTER = "router"  # the caller of most events (the router's own changes): written as nil
_CORE = 25  # fields before the map of rare ones

# The rarer fields of an interaction record, by their key in the trailing map.
X_REPEAT, X_OFFER, X_XFER, X_WHY, X_RULES, X_TAGS = 1, 2, 3, 4, 5, 6
X_OUT, X_NB, X_CB, X_HOLD, X_DONE, X_FB = 7, 8, 9, 10, 11, 12

_CHANNEL = tuple(Channel)
_ISTATE = tuple(InteractionState)
_EVENT = {int(t): t for t in EventType}
_TERMS = list(TERM_NAMES)
_REQS: dict[tuple[Any, ...], tuple[SkillRequirement, ...]] = {}

_new = object.__new__
# The record's fields that the core of the encoding does not hold, at their defaults
# (those with a default factory are set per record).
_RECORD_DEFAULTS: dict[str, Any] = {
    f.name: f.default
    for f in dataclasses.fields(InteractionRecord)
    if f.default is not dataclasses.MISSING
}

_pack = msgpack.Packer(use_bin_type=True, autoreset=True).pack


def _packb(value: Any) -> bytes:
    data: bytes = _pack(value)
    return data


_unpackb = msgpack.unpackb


def is_compact(data: bytes | str) -> TypeGuard[bytes]:
    return isinstance(data, bytes) and len(data) > 0 and data[0] in _VERSIONS


def _body(data: bytes) -> Any:
    return _unpackb(memoryview(data)[1:], raw=False, strict_map_key=False)


def _split(data: bytes) -> tuple[list[bytes], memoryview]:
    """A folded record's history entries, and the record's array after them."""
    unpacker = msgpack.Unpacker(raw=True, max_buffer_size=len(data))
    unpacker.feed(memoryview(data)[1:])
    entries = unpacker.unpack()
    if not isinstance(entries, list) or not all(isinstance(e, bytes) for e in entries):
        raise ValueError("interaction record: malformed history")
    return entries, memoryview(data)[1 + unpacker.tell() :]


def folded_history(data: bytes | str) -> list[bytes]:
    """The history entries a closed interaction's record holds, oldest first: none but in
    a version 2 record."""
    if isinstance(data, bytes) and data[:1] == bytes([FOLDED]):
        return _split(data)[0]
    return []


def _f(x: float) -> float | int:
    """A whole float as an int (msgpack writes 0 in one byte, 0.0 in nine)."""
    if x.__class__ is float and x.is_integer() and -(2**62) < x < 2**62:
        return int(x)
    return x


def _reqs_out(reqs: tuple[SkillRequirement, ...]) -> list[Any]:
    out: list[Any] = []
    for r in reqs:
        out.append(r.skill)
        out.append(r.min_level)
    return out


def _reqs_in(flat: list[Any]) -> tuple[SkillRequirement, ...]:
    """Requirements are immutable and few distinct: decoded ones are shared."""
    if not flat:
        return ()
    key = tuple(flat)
    found = _REQS.get(key)
    if found is None:
        if len(flat) % 2:
            raise ValueError("skill requirements: a skill without its level")
        found = tuple(
            SkillRequirement(str(flat[n]), int(flat[n + 1])) for n in range(0, len(flat), 2)
        )
        if len(_REQS) < 100_000:
            _REQS[key] = found
    return found


# --- interactions -------------------------------------------------------------------------


def interaction_out(rec: InteractionRecord) -> bytes:
    i = rec.interaction
    excluded = sorted(i.excluded_agents)
    fields: list[Any] = [
        i.id,
        int(i.channel),
        i.customer_id,
        _reqs_out(i.required),
        _reqs_out(i.preferred),
        i.priority,
        None if i.customer_tier == _STANDARD else i.customer_tier,
        _f(i.sla_seconds),
        _f(i.enqueued_at),
        i.escalation_level,
        i.preferred_agent,
        excluded,
        [_f(rec.exclusions.get(a, 0.0)) for a in excluded],
        i.context,
        int(i.state),
        rec.agent_id,
        rec.linked_interaction_id,
        rec.disposition,
        rec.csat,
        _f(rec.assigned_at),
        rec.answered,
        _f(rec.wrap_up_until),
        rec.request_digest,
        rec.arrival,
        None if i.queue_id == DEFAULT_QUEUE else i.queue_id,
    ]
    extra = _rare_out(rec)
    if extra:
        fields.append(extra)
    return _V + _packb(fields)


def _rare_out(rec: InteractionRecord) -> dict[int, Any]:
    x: dict[int, Any] = {}
    if rec.repeat:
        x[X_REPEAT] = True
    if rec.offer is not None:
        o = rec.offer
        x[X_OFFER] = [o.agent_id, int(o.channel), _f(o.offered_at), _f(o.expires_at), o.transfer]
    if rec.transfer is not None:
        t = rec.transfer
        x[X_XFER] = [int(t.mode), t.target_agent, int(t.channel), _reqs_out(t.required), t.reason]
    if rec.explanation is not None:
        x[X_WHY] = _explanation_out(rec.explanation)
    if rec.rules_fired:
        x[X_RULES] = list(rec.rules_fired)
    if rec.tags:
        x[X_TAGS] = list(rec.tags)
    if rec.outbound:
        x[X_OUT] = True
    if rec.not_before:
        x[X_NB] = _f(rec.not_before)
    if rec.callback is not None:
        cb = rec.callback
        done = [[_f(a.at), a.outcome, a.agent_id] for a in cb.attempts]
        x[X_CB] = [cb.address, cb.max_attempts, _f(cb.retry_seconds), _f(cb.requested_at), done]
    if rec.hold_count:
        x[X_HOLD] = [
            _f(rec.hold_started_at),
            rec.hold_count,
            _f(rec.hold_seconds),
            rec.hold_limit_raised,
        ]
    if rec.completed_at:
        x[X_DONE] = _f(rec.completed_at)
    if rec.feedback_comment or rec.feedback_fields:
        x[X_FB] = [rec.feedback_comment, rec.feedback_fields]
    return x


def interaction_in(data: bytes, tenant: str) -> InteractionRecord:
    if data[0] == FOLDED:
        d = _unpackb(_split(data)[1], raw=False, strict_map_key=False)
    else:
        d = _body(data)
    if len(d) < _CORE:
        raise ValueError("interaction record: too few fields")
    (
        iid,
        ch,
        cust,
        req,
        pref,
        prio,
        ctier,
        sla,
        enq,
        esc,
        pagent,
        excl,
        exu,
        ctx,
        state,
        agent_id,
        link,
        disp,
        csat,
        assigned,
        answered,
        wrap,
        digest,
        arrival,
        queue_id,
    ) = d[:_CORE]
    x: dict[int, Any] = d[_CORE] if len(d) > _CORE else {}
    if len(exu) != len(excl) or not isinstance(ctx, dict):
        raise ValueError("interaction record: malformed")
    # Built as their __init__ would (every field set, defaults fresh), without its call:
    # a restart decodes every open record, and the call is most of a record's cost.
    i = _new(Interaction)
    i.__dict__ = {
        "id": str(iid),
        "channel": _CHANNEL[ch],
        "tenant": tenant,
        "customer_id": str(cust),
        "required": _reqs_in(req),
        "preferred": _reqs_in(pref),
        "priority": int(prio),
        "customer_tier": _STANDARD if ctier is None else str(ctier),
        "sla_seconds": float(sla),
        "enqueued_at": float(enq),
        "escalation_level": int(esc),
        "preferred_agent": str(pagent),
        "excluded_agents": frozenset(excl),
        "context": ctx,
        "state": _ISTATE[state],
        "queue_id": DEFAULT_QUEUE if queue_id is None else str(queue_id),
    }
    rec = _new(InteractionRecord)
    rec.__dict__ = {
        **_RECORD_DEFAULTS,
        "interaction": i,
        "agent_id": str(agent_id),
        "linked_interaction_id": str(link),
        "disposition": str(disp),
        "csat": int(csat),
        "assigned_at": float(assigned),
        "answered": bool(answered),
        "wrap_up_until": float(wrap),
        "request_digest": bytes(digest),
        "arrival": int(arrival),
        "exclusions": {str(a): float(u) for a, u in zip(excl, exu, strict=True)},
        "feedback_fields": {},
    }
    if x:
        _rare_in(rec, x)
    return rec


def _rare_in(rec: InteractionRecord, x: dict[int, Any]) -> None:
    rec.repeat = bool(x.get(X_REPEAT, False))
    offer = x.get(X_OFFER)
    if offer is not None:
        agent_id, ch, at, until, transfer = offer
        rec.offer = Offer(str(agent_id), _CHANNEL[ch], float(at), float(until), bool(transfer))
    xfer = x.get(X_XFER)
    if xfer is not None:
        mode, target, ch, req, why = xfer
        rec.transfer = PendingTransfer(
            TransferMode(mode), str(target), _CHANNEL[ch], _reqs_in(req), str(why)
        )
    if X_WHY in x:
        rec.explanation = _explanation_in(rec.id, x[X_WHY])
    rec.rules_fired = tuple(str(r) for r in x.get(X_RULES, ()))
    rec.tags = tuple(str(t) for t in x.get(X_TAGS, ()))
    rec.outbound = bool(x.get(X_OUT, False))
    rec.not_before = float(x.get(X_NB, 0.0))
    cb = x.get(X_CB)
    if cb is not None:
        address, attempts, retry, requested, done = cb
        rec.callback = Callback(
            str(address),
            int(attempts),
            float(retry),
            float(requested),
            tuple(CallbackAttempt(float(a), str(o), str(g)) for a, o, g in done),
        )
    hold = x.get(X_HOLD)
    if hold is not None:
        rec.hold_started_at, rec.hold_count = float(hold[0]), int(hold[1])
        rec.hold_seconds, rec.hold_limit_raised = float(hold[2]), bool(hold[3])
    rec.completed_at = float(x.get(X_DONE, 0.0))
    fb = x.get(X_FB)
    if fb is not None:
        comment, answers = fb
        rec.feedback_comment = str(comment)
        rec.feedback_fields = {str(k): str(v) for k, v in answers.items()}


def _candidate_out(c: Candidate | None) -> list[Any] | None:
    if c is None:
        return None
    # The core's terms, in their fixed order, as a list; any other mapping as it is.
    terms: Any = [_f(v) for v in c.terms.values()] if list(c.terms) == _TERMS else dict(c.terms)
    return [c.agent_id, _f(c.score), terms]


def _candidate_in(c: list[Any] | None) -> Candidate | None:
    if c is None:
        return None
    agent_id, score, terms = c
    found = (
        dict(zip(TERM_NAMES, map(float, terms), strict=True))
        if isinstance(terms, list)
        else {str(k): float(v) for k, v in terms.items()}
    )
    return Candidate(str(agent_id), float(score), found)


def _explanation_out(e: Explanation) -> list[Any]:
    p = e.parts
    return [
        _f(e.at),
        e.relaxation_step,
        _f(e.urgency),
        e.agents_considered,
        e.eligible,
        e.exclusions,
        _candidate_out(e.winner),
        _candidate_out(e.runner_up),
        [_f(p.base), _f(p.aging), _f(p.service_level_boost), p.wait_bound_reached],
    ]


def _explanation_in(interaction_id: str, d: list[Any]) -> Explanation:
    at, step, urgency, considered, eligible, excl, win, run, parts = d
    return Explanation(
        interaction_id=interaction_id,
        at=float(at),
        relaxation_step=int(step),
        urgency=float(urgency),
        agents_considered=int(considered),
        eligible=int(eligible),
        exclusions={str(k): int(v) for k, v in excl.items()},
        winner=_candidate_in(win),
        runner_up=_candidate_in(run),
        parts=UrgencyParts(float(parts[0]), float(parts[1]), float(parts[2]), bool(parts[3])),
    )


# --- history events and customers ---------------------------------------------------------


def history_event_out(e: Event) -> bytes:
    fields: list[Any] = [
        _f(e.at),
        int(e.type),
        int(e.channel),
        e.agent_id,
        e.reason,
        None if e.caller == _ROUTER else e.caller,
        e.queue_id,
        e.rule,
    ]
    while len(fields) > 3 and fields[-1] == "":
        fields.pop()
    return _V + _packb(fields)


def history_event_in(data: bytes, interaction_id: str) -> Event:
    fields = _body(data)
    at, type_, channel = fields[:3]
    rest = [str(f) for f in fields[3:8]]
    rest += [""] * (5 - len(rest))
    if len(fields) > 5 and fields[5] is None:
        rest[2] = _ROUTER
    return Event(float(at), _EVENT[type_], interaction_id, _CHANNEL[channel], *rest)


def customer_out(c: CustomerRecord) -> bytes:
    return _V + _packb([c.last_interaction_id, c.last_agent_id, _f(c.last_served_at)])


def customer_in(customer_id: str, data: bytes) -> CustomerRecord:
    last, agent_id, served = _body(data)
    return CustomerRecord(customer_id, str(last), str(agent_id), float(served))
