"""Transfers and escalation of one tenant's interactions, on its `TenantRouter`."""

from __future__ import annotations

from cim_router.domain.agent import AgentState
from cim_router.domain.channel import Channel
from cim_router.domain.interaction import (
    MAX_ESCALATION_LEVEL,
    InteractionState,
    SkillRequirement,
)
from cim_router.service.errors import FailedPrecondition
from cim_router.service.lifecycle import OPEN, TenantRouter
from cim_router.service.records import (
    Event,
    EventType,
    InteractionRecord,
    PendingTransfer,
    TransferMode,
    Transition,
)
from cim_router.service.watch import NoticeType


async def transfer(
    r: TenantRouter,
    interaction_id: str,
    mode: TransferMode,
    target_agent: str,
    required: tuple[SkillRequirement, ...] | None,
    channel: Channel | None,
    reason: str,
) -> InteractionRecord:
    """Move an assigned interaction to an agent, a skill requirement or the queue."""
    async with r.lock:
        r._check_available()
        rec = r._live(interaction_id)
        i = rec.interaction
        if i.state != InteractionState.ASSIGNED:
            raise FailedPrecondition(
                f"interaction {interaction_id!r} is {i.state.name}, not ASSIGNED"
            )
        if rec.transfer is not None:
            raise FailedPrecondition(f"interaction {interaction_id!r} has a pending transfer")
        new_channel = channel if channel is not None else i.channel
        new_required = required if required is not None else i.required
        if target_agent:
            _check_target(r, rec, target_agent, new_channel)
        t = Transition(interactions=[rec])
        t.events.append(
            r._event(rec, EventType.TRANSFER_REQUESTED, target_agent, reason or mode.name)
        )
        pending = PendingTransfer(mode, target_agent, new_channel, new_required, reason)
        if mode == TransferMode.WARM:
            rec.transfer = pending
            _start_transfer(r, rec, t)
        else:
            _cold_transfer(r, rec, pending, t)
        out = rec.snapshot()
    await r._durable()
    return out


def _check_target(r: TenantRouter, rec: InteractionRecord, agent_id: str, channel: Channel) -> None:
    if agent_id == rec.agent_id:
        raise FailedPrecondition(f"agent {agent_id!r} already holds the interaction")
    target = r._agent(agent_id).agent
    if target.state != AgentState.AVAILABLE:
        raise FailedPrecondition(f"agent {agent_id!r} is {target.state.name}, not AVAILABLE")
    if target.load_of(channel) >= target.capacity_of(channel):
        raise FailedPrecondition(f"agent {agent_id!r} has no free {channel.name} capacity")


def _start_transfer(r: TenantRouter, rec: InteractionRecord, t: Transition) -> None:
    """Route a warm transfer: the holder keeps the interaction until a target accepts."""
    assert rec.transfer is not None
    if rec.transfer.target_agent:
        r._offer(rec, rec.transfer.target_agent, None, t)
    else:
        r._submit(t)
        r._index_interaction(rec)
        r._route_interaction(rec)


def _cold_transfer(
    r: TenantRouter, rec: InteractionRecord, pending: PendingTransfer, t: Transition
) -> None:
    """Release the holder now and queue (or offer) the interaction on its new terms."""
    i = rec.interaction
    now = r.clock()
    holder = r._agent(rec.agent_id)
    r._add_load(holder, i.channel, -1)
    t.agents.append(holder)
    if pending.channel != i.channel:
        t.events.append(
            Event(now, EventType.CHANNEL_CHANGED, i.id, pending.channel, holder.agent.id)
        )
    i.channel, i.required = pending.channel, pending.required
    i.excluded_agents = i.excluded_agents | {holder.agent.id}
    i.state = InteractionState.QUEUED
    rec.agent_id = ""
    if pending.target_agent:
        r._offer(rec, pending.target_agent, None, t)
    else:
        r._submit(t)
        r._index_interaction(rec)
    r._index_agent(holder)
    r._notify(NoticeType.RELEASED, holder.agent.id, rec, now)
    r._route_interaction(rec)
    r._route_agent(holder.agent.id)


async def cancel_transfer(
    r: TenantRouter, interaction_id: str, agent_id: str, reason: str
) -> InteractionRecord:
    """Call off a pending warm transfer: the holder keeps the interaction, and an offer
    made to a target is withdrawn."""
    async with r.lock:
        r._check_available()
        rec = r._live(interaction_id)
        if rec.transfer is None or rec.interaction.state != InteractionState.ASSIGNED:
            raise FailedPrecondition(f"interaction {interaction_id!r} has no pending transfer")
        if agent_id and agent_id != rec.agent_id:
            raise FailedPrecondition(
                f"interaction {interaction_id!r} is not held by agent {agent_id!r}"
            )
        t = Transition(interactions=[rec])
        withdrawn = r._drop_transfer(rec, t)
        t.events.append(r._event(rec, EventType.TRANSFER_CANCELLED, rec.agent_id, reason))
        r._submit(t)
        for a in t.agents:
            r._index_agent(a)
        if withdrawn:
            r._notify(NoticeType.OFFER_ENDED, withdrawn, rec, r.clock())
            r._route_agent(withdrawn)
        out = rec.snapshot()
    await r._durable()
    return out


async def escalate(r: TenantRouter, interaction_id: str, reason: str) -> InteractionRecord:
    """One escalation level up: a higher tier is required and urgency rises; an assigned
    interaction is re-routed as a warm transfer."""
    async with r.lock:
        r._check_available()
        rec = r._live(interaction_id)
        i = rec.interaction
        if i.state not in OPEN:
            raise FailedPrecondition(f"interaction {interaction_id!r} is {i.state.name}")
        if i.escalation_level >= MAX_ESCALATION_LEVEL:
            raise FailedPrecondition(
                f"interaction {interaction_id!r} is at the highest escalation level"
            )
        if rec.transfer is not None:
            raise FailedPrecondition(f"interaction {interaction_id!r} has a pending transfer")
        i.escalation_level += 1
        t = Transition(interactions=[rec])
        t.events.append(r._event(rec, EventType.ESCALATED, reason=reason))
        if i.state == InteractionState.ASSIGNED:
            rec.transfer = PendingTransfer(
                TransferMode.WARM, "", i.channel, i.required, reason or "escalation"
            )
            _start_transfer(r, rec, t)
        else:
            _requeue_escalated(r, rec, t)
        out = rec.snapshot()
    await r._durable()
    return out


def _requeue_escalated(r: TenantRouter, rec: InteractionRecord, t: Transition) -> None:
    """A waiting or offered interaction goes back to the queue on its new terms."""
    i = rec.interaction
    withdrawn = r._withdraw_offer(rec, t)
    if withdrawn:
        i.state = InteractionState.QUEUED
    r._submit(t)
    for a in t.agents:
        r._index_agent(a)
    r.engine.remove(i.id)
    r._index_interaction(rec)
    if withdrawn:
        r._notify(NoticeType.OFFER_ENDED, withdrawn, rec, r.clock())
    r._route_interaction(rec)
    if withdrawn:
        r._route_agent(withdrawn)
