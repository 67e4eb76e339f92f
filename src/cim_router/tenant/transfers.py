"""Transfers and escalation of one tenant's interactions."""

from __future__ import annotations

from cim_router.domain.channel import Channel
from cim_router.domain.interaction import (
    InteractionState,
    SkillRequirement,
)
from cim_router.domain.queues import Queue
from cim_router.tenant import counting, escalation, holds, offers, overflow, queues
from cim_router.tenant.errors import FailedPrecondition, InvalidArgument
from cim_router.tenant.interactions import drop_transfer, replay_interaction
from cim_router.tenant.records import (
    EventType,
    InteractionRecord,
    PendingTransfer,
    RequestKey,
    TransferMode,
)
from cim_router.tenant.router import TenantRouter
from cim_router.tenant.watch import NoticeType


async def transfer(
    r: TenantRouter,
    interaction_id: str,
    mode: TransferMode,
    target_agent: str,
    required: tuple[SkillRequirement, ...] | None,
    channel: Channel | None,
    reason: str,
    ignore_skills: bool = False,
    request: RequestKey | None = None,
    move: queues.Move | None = None,
) -> InteractionRecord:
    """Move an assigned interaction to an agent, a skill requirement or a queue (its own,
    or another: the queue changes at once, also for a warm transfer)."""

    def apply() -> InteractionRecord:
        rec = r.live(interaction_id)
        i = rec.interaction
        if i.state != InteractionState.ASSIGNED:
            raise FailedPrecondition(
                f"interaction {interaction_id!r} is {i.state.name}, not ASSIGNED"
            )
        if rec.transfer is not None:
            raise FailedPrecondition(
                f"interaction {interaction_id!r} has a pending transfer; call it off with "
                "CancelTransfer first"
            )
        new_channel = channel if channel is not None else i.channel
        target: Queue | None = None
        terms = (i.required, i.preferred, i.priority)
        if move is not None:
            target = queues.find(r, move.queue_id or i.queue_id)
            if not target.accepts(new_channel):
                raise InvalidArgument(
                    "channel", f"queue {target.id!r} does not take {new_channel.name}"
                )
            terms = queues.move_terms(r, rec, target)
        pending = PendingTransfer(
            mode,
            target_agent,
            new_channel,
            required if required is not None else terms[0],
            reason,
        )
        if target_agent:
            _check_target(r, rec, pending, ignore_skills)
        r.put(rec)
        r.event(rec, EventType.TRANSFER_REQUESTED, target_agent, reason or mode.name)
        counting.transferred(r, rec)
        if target is not None and move is not None:
            _enter_queue(r, rec, target, (terms[1], terms[2]), move.to_back)
        if mode == TransferMode.WARM:
            rec.transfer = pending
            escalation.start_transfer(r, rec)
        else:
            _cold_transfer(r, rec, pending)
        return rec.snapshot()

    return await r.mutate(apply, request, replay_interaction(r), interaction_id)


def _enter_queue(
    r: TenantRouter,
    rec: InteractionRecord,
    target: Queue,
    terms: tuple[tuple[SkillRequirement, ...], int],
    to_back: bool,
) -> None:
    """The interaction's queue, preferred skills and priority become the target's; at the
    back of it, a new enqueue time (else it keeps its place)."""
    i = rec.interaction
    if i.queue_id != target.id:
        i.queue_id = target.id
        i.preferred, i.priority = terms
        r.event(rec, EventType.QUEUE_CHANGED, queue_id=target.id)
    if to_back:
        i.enqueued_at = r.clock()
        r.arrivals += 1
        rec.arrival = r.arrivals


def _check_target(
    r: TenantRouter, rec: InteractionRecord, pending: PendingTransfer, ignore_skills: bool
) -> None:
    """A named target passes the same rules as a routed one: state, capacity (exclusive
    channels included), skills, tier and exclusions; `ignore_skills` waives the last three."""
    agent_id = pending.target_agent
    if agent_id == rec.agent_id:
        raise FailedPrecondition(f"agent {agent_id!r} already holds the interaction")
    r.agent(agent_id)
    view = offers.routing_view(
        InteractionRecord(rec.interaction, agent_id=rec.agent_id, transfer=pending)
    )
    why = r.engine.check_target(view, agent_id, r.clock(), ignore_skills)
    if why:
        raise FailedPrecondition(f"agent {agent_id!r} cannot take the interaction: {why}")


def _cold_transfer(r: TenantRouter, rec: InteractionRecord, pending: PendingTransfer) -> None:
    """Release the holder now and queue (or offer) the interaction on its new terms."""
    i = rec.interaction
    holder = r.agent(rec.agent_id)
    holds.end_hold(r, rec, holds.ENDED_BY_TRANSFER)
    offers.free_agent(r, holder, i.channel)
    if pending.channel != i.channel:
        r.event(rec, EventType.CHANNEL_CHANGED, holder.agent.id, channel=pending.channel)
    i.channel, i.required = pending.channel, pending.required
    offers.exclude(r, rec, holder.agent.id)
    i.state = InteractionState.QUEUED
    rec.agent_id = ""
    r.index_agent(holder)
    if pending.target_agent:
        offers.offer(r, rec, pending.target_agent, None)
    else:
        offers.index_interaction(r, rec)
        overflow.entered(r, rec)  # the rules of the queue it is now in
    r.notify(NoticeType.RELEASED, holder.agent.id, rec)
    if overflow.waiting(r, rec):
        offers.route_interaction(r, rec)
    offers.route_agent(r, holder.agent.id)


async def cancel_transfer(
    r: TenantRouter,
    interaction_id: str,
    agent_id: str,
    reason: str,
    request: RequestKey | None = None,
) -> InteractionRecord:
    """Call off a pending warm transfer: the holder keeps the interaction, and an offer
    made to a target is withdrawn."""

    def apply() -> InteractionRecord:
        rec = r.live(interaction_id)
        if rec.transfer is None or rec.interaction.state != InteractionState.ASSIGNED:
            raise FailedPrecondition(f"interaction {interaction_id!r} has no pending transfer")
        if agent_id and agent_id != rec.agent_id:
            raise FailedPrecondition(
                f"interaction {interaction_id!r} is not held by agent {agent_id!r}"
            )
        r.put(rec)
        withdrawn = drop_transfer(r, rec)
        r.event(rec, EventType.TRANSFER_CANCELLED, rec.agent_id, reason)
        if withdrawn:
            r.notify(NoticeType.OFFER_ENDED, withdrawn, rec)
            offers.route_agent(r, withdrawn)
        return rec.snapshot()

    return await r.mutate(apply, request, replay_interaction(r), interaction_id)


async def escalate(
    r: TenantRouter, interaction_id: str, reason: str, request: RequestKey | None = None
) -> InteractionRecord:
    """One escalation level up: a higher tier is required and urgency rises; an assigned
    interaction is re-routed as a warm transfer."""

    def apply() -> InteractionRecord:
        rec = r.live(interaction_id)
        why = escalation.cannot_escalate(rec)
        if why:
            raise FailedPrecondition(f"interaction {interaction_id!r} {why}")
        escalation.escalate_now(r, rec, reason)
        return rec.snapshot()

    return await r.mutate(apply, request, replay_interaction(r), interaction_id)
