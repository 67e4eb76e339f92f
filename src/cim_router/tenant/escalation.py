"""Escalation, as Escalate does it and as automation rules ask for it: one level up (a
higher agent tier required, urgency raised); assigned work is re-routed as a warm
transfer with its context, waiting work goes back to the queue on its new terms."""

from __future__ import annotations

from cim_router.domain.interaction import MAX_ESCALATION_LEVEL, InteractionState
from cim_router.tenant import offers
from cim_router.tenant.records import EventType, InteractionRecord, PendingTransfer, TransferMode
from cim_router.tenant.router import OPEN, TenantRouter
from cim_router.tenant.watch import NoticeType


def start_transfer(r: TenantRouter, rec: InteractionRecord) -> None:
    """Route a warm transfer: the holder keeps the interaction until a target accepts."""
    assert rec.transfer is not None
    if rec.transfer.target_agent:
        offers.offer(r, rec, rec.transfer.target_agent, None)
    else:
        offers.index_interaction(r, rec)
        offers.route_interaction(r, rec)


def cannot_escalate(rec: InteractionRecord) -> str:
    """Why `rec` cannot go one escalation level up now; "" if it can."""
    i = rec.interaction
    if i.state not in OPEN:
        return f"is {i.state.name}"
    if i.escalation_level >= MAX_ESCALATION_LEVEL:
        return "is at the highest escalation level"
    if rec.transfer is not None:
        return "has a pending transfer"
    return ""


def escalate_now(r: TenantRouter, rec: InteractionRecord, reason: str) -> None:
    """One level up (checked by `cannot_escalate`): assigned work is re-routed as a warm
    transfer to an agent of the higher tier, with its context; waiting work goes back to
    the queue on its new terms."""
    i = rec.interaction
    r.put(rec)
    i.escalation_level += 1
    r.event(rec, EventType.ESCALATED, reason=reason)
    if i.state == InteractionState.ASSIGNED:
        rec.transfer = PendingTransfer(
            TransferMode.WARM, "", i.channel, i.required, reason or "escalation"
        )
        start_transfer(r, rec)
    else:
        _requeue_escalated(r, rec)


def _requeue_escalated(r: TenantRouter, rec: InteractionRecord) -> None:
    """A waiting or offered interaction goes back to the queue on its new terms."""
    withdrawn = offers.withdraw_offer(r, rec)
    if withdrawn:
        rec.interaction.state = InteractionState.QUEUED
    r.engine.remove(rec.id)
    offers.index_interaction(r, rec)
    if withdrawn:
        r.notify(NoticeType.OFFER_ENDED, withdrawn, rec)
    offers.route_interaction(r, rec)
    if withdrawn:
        offers.route_agent(r, withdrawn)
