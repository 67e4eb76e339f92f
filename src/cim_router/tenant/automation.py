"""Automation rules at work (the model is domain/automation.py): looked at, in the
policy's order, when an interaction is enqueued (after its queue's overflow rules), when
UpdateContext changes its context, and when it has waited a rule's `wait_seconds`
threshold (a timer each). A rule fires when every condition holds and its action can be
carried out now; once per interaction unless it is `repeat`. Each firing is a RULE_FIRED
event (its reason the rule's `event` for `emit`) and is listed in `rules_fired`, shown by
Explain. The router makes these changes itself: their events name it as the caller.
"""

from __future__ import annotations

from typing import Any

from cim_router.domain.automation import (
    MAX_TAGS,
    Action,
    AutomationRule,
    Trigger,
    holds,
)
from cim_router.domain.interaction import InteractionState
from cim_router.domain.limits import MAX_PRIORITY, MAX_SKILLS_PER_INTERACTION
from cim_router.tenant import escalation, offers, overflow
from cim_router.tenant.caller import ROUTER, acting_as
from cim_router.tenant.records import EventType, InteractionRecord
from cim_router.tenant.router import OPEN, TenantRouter
from cim_router.tenant.timers import Due

MAX_LISTED = 64  # entries of `rules_fired` at most (a repeated rule is listed once)


def facts(r: TenantRouter, rec: InteractionRecord) -> dict[str, Any]:
    """The fields conditions name, as they stand now."""
    i = rec.interaction
    if i.state in (InteractionState.QUEUED, InteractionState.OFFERED) and rec.transfer is None:
        waited = r.clock() - i.enqueued_at
    elif rec.assigned_at:
        waited = rec.assigned_at - i.enqueued_at
    else:
        waited = 0.0
    return {
        "wait_seconds": max(0.0, waited),
        "escalation_level": float(i.escalation_level),
        "priority": float(i.priority),
        "channel": i.channel.name.lower(),
        "queue": i.queue_id,
        "customer_tier": i.customer_tier,
        "state": i.state.name.lower(),
    }


def review(r: TenantRouter, rec: InteractionRecord, trigger: Trigger) -> None:
    """Look at the policy's rules for `rec` on `trigger`, firing those that hold."""
    rules = r.policy.rules
    if not rules or rec.interaction.state not in OPEN:
        return
    known: dict[str, Any] | None = None  # the facts, read again once a rule has fired
    with acting_as(ROUTER):
        for rule in rules:
            if rec.interaction.state not in OPEN:
                return
            if trigger not in rule.on or not _in_scope(rule, rec):
                continue
            if not rule.repeat and rule.name in rec.rules_fired:
                continue
            if known is None:
                known = facts(r, rec)
            context = rec.interaction.context
            if not all(holds(c, known, context) for c in rule.conditions):
                continue
            if _can_apply(r, rec, rule):
                _fire(r, rec, rule)
                known = None


def schedule(r: TenantRouter, rec: InteractionRecord) -> None:
    """Timers for the `wait_seconds` thresholds of the rules that look at waiting work."""
    start = rec.interaction.enqueued_at
    now = r.clock()
    dues = {
        max(now, start + seconds)
        for rule in r.policy.rules
        if Trigger.WAITING in rule.on and (rule.repeat or rule.name not in rec.rules_fired)
        for seconds in rule.wait_thresholds()
    }
    for due in dues:
        r.at(due, Due.AUTOMATION, rec.id)


def _in_scope(rule: AutomationRule, rec: InteractionRecord) -> bool:
    return not rule.queues or rec.interaction.queue_id in rule.queues


def _can_apply(r: TenantRouter, rec: InteractionRecord, rule: AutomationRule) -> bool:
    """Whether the action can be carried out now; a rule that cannot does not fire (it
    may when it is next looked at)."""
    i = rec.interaction
    a = rule.action
    if a == Action.ESCALATE:
        return not escalation.cannot_escalate(rec)
    if a == Action.MOVE:
        target = r.queues.get(rule.queue)
        return (
            overflow.waiting(r, rec)
            and target is not None
            and target.id != i.queue_id
            and target.accepts(i.channel)
        )
    if a == Action.ADD_SKILLS:
        names = {s.skill for s in rule.skills}
        kept = [req for req in i.required if req.skill not in names]
        return len(kept) + len(rule.skills) <= MAX_SKILLS_PER_INTERACTION
    if a == Action.TAG:
        return rule.tag in rec.tags or len(rec.tags) < MAX_TAGS
    return True


def _fire(r: TenantRouter, rec: InteractionRecord, rule: AutomationRule) -> None:
    r.put(rec)
    if rule.name not in rec.rules_fired:
        rec.rules_fired = (*rec.rules_fired, rule.name)[-MAX_LISTED:]
    r.event(rec, EventType.RULE_FIRED, reason=rule.event, rule=rule.name)
    i = rec.interaction
    a = rule.action
    if a == Action.ESCALATE:
        escalation.escalate_now(r, rec, rule.reason or rule.name)
    elif a == Action.MOVE:
        overflow.move(r, rec, r.queues[rule.queue], keep_place=not rule.to_back)
        if overflow.waiting(r, rec):
            offers.route_interaction(r, rec)
    elif a == Action.TAG:
        if rule.tag not in rec.tags:
            rec.tags = (*rec.tags, rule.tag)
    elif a in (Action.RAISE_PRIORITY, Action.ADD_SKILLS, Action.DROP_SKILLS):
        if a == Action.RAISE_PRIORITY:
            i.priority = min(MAX_PRIORITY, i.priority + rule.priority)
        elif a == Action.ADD_SKILLS:
            names = {s.skill for s in rule.skills}
            i.required = (*(q for q in i.required if q.skill not in names), *rule.skills)
        else:
            names = {s.skill for s in rule.skills}
            i.required = tuple(q for q in i.required if q.skill not in names)
        if overflow.waiting(r, rec):  # routed again on its new terms
            r.engine.remove(rec.id)
            offers.index_interaction(r, rec)
            offers.route_interaction(r, rec)
