"""What a restart repairs before a tenant serves again."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cim_router.domain.channel import Channel
from cim_router.domain.interaction import InteractionState
from cim_router.service.records import Event, EventType, Transition

if TYPE_CHECKING:
    from cim_router.service.lifecycle import TenantRouter


def recover(r: TenantRouter, t: Transition) -> None:
    """After a crash: withdraw offers in flight, recount every agent's load."""
    now = r.clock()
    for rec in r.open.values():
        if rec.offer is not None:
            t.events.append(
                Event(
                    now,
                    EventType.OFFER_WITHDRAWN,
                    rec.id,
                    rec.offer.channel,
                    rec.offer.agent_id,
                    "router restarted",
                )
            )
            rec.offer = None
            if rec.transfer is None:
                rec.interaction.state = InteractionState.QUEUED
                t.events.append(r._event(rec, EventType.REQUEUED))
            t.interactions.append(rec)
    held: dict[str, dict[Channel, int]] = {}
    for rec in r.open.values():
        if rec.interaction.state == InteractionState.ASSIGNED and rec.agent_id:
            per = held.setdefault(rec.agent_id, {})
            per[rec.interaction.channel] = per.get(rec.interaction.channel, 0) + 1
    for arec in r.agents.values():
        load = {c: n for c, n in held.get(arec.agent.id, {}).items() if n}
        if load != {c: n for c, n in arec.agent.load.items() if n}:
            arec.agent.load = load
            t.agents.append(arec)
