"""What a restart repairs before a tenant serves again."""

from __future__ import annotations

from cim_router.domain.channel import Channel
from cim_router.domain.interaction import InteractionState
from cim_router.service.records import EventType
from cim_router.service.router import TenantRouter


def recover(r: TenantRouter) -> None:
    """After a crash, in a unit of work: withdraw offers in flight (their watch streams are
    gone; a warm transfer to a named agent fails), recount every agent's load from what it
    holds."""
    for rec in r.open.values():
        if rec.offer is not None:
            r.put(rec)
            target = rec.offer.agent_id
            r.event(rec, EventType.OFFER_WITHDRAWN, target, "router restarted", rec.offer.channel)
            rec.offer = None
            if rec.transfer is None:
                rec.interaction.state = InteractionState.QUEUED
                r.event(rec, EventType.REQUEUED)
            elif rec.transfer.target_agent:
                # A transfer to a named agent ends with its offer, as on a reject: the holder
                # keeps the interaction (routed again, it would go to anyone).
                r.event(rec, EventType.TRANSFER_FAILED, target, "router restarted")
                rec.transfer = None
    held: dict[str, dict[Channel, int]] = {}
    for rec in r.open.values():
        if rec.interaction.state == InteractionState.ASSIGNED and rec.agent_id:
            per = held.setdefault(rec.agent_id, {})
            per[rec.interaction.channel] = per.get(rec.interaction.channel, 0) + 1
    for arec in r.agents.values():
        load = {c: n for c, n in held.get(arec.agent.id, {}).items() if n}
        if load != {c: n for c, n in arec.agent.load.items() if n}:
            r.put_agent(arec).agent.load = load
