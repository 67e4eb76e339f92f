"""What happens when one of a tenant's timers falls due: offers expire, wrap-ups end,
relaxation steps start, exclusions lapse, holds pass their limit, overflow rules and queue
hours are looked at."""

from __future__ import annotations

from collections.abc import Iterable

from cim_router.domain.agent import AgentState
from cim_router.domain.automation import Trigger
from cim_router.domain.interaction import InteractionState
from cim_router.tenant import agents, automation, callbacks, holds, interactions, offers, overflow
from cim_router.tenant.records import EventType
from cim_router.tenant.router import TenantRouter
from cim_router.tenant.timers import Due, Timer


async def fire(r: TenantRouter, timers: Iterable[Timer]) -> None:
    """Run the tenant's due timers as one unit of work; those of an earlier load, or
    arriving while the tenant is not serving, are dropped (a load schedules them anew)."""
    async with r.lock:
        if not r.available:
            return
        with r.unit():
            for timer in timers:
                if timer.generation == r.generation:
                    _fire(r, timer.kind, timer.key, timer.due)


def _fire(r: TenantRouter, kind: Due, key: str, due: float) -> None:
    if kind == Due.AGENT_WRAP:
        arec = r.agents.get(key)
        if arec and arec.agent.state == AgentState.WRAP_UP and arec.wrap_up_until == due:
            agents.change_state(r, arec, AgentState.AVAILABLE, "", since=due)
        return
    if kind == Due.MATCH:
        overflow.after_load(r)
        offers.match_all(r)
        return
    if kind == Due.HOURS:
        overflow.hours_changed(r, key, due)
        return
    rec = r.open.get(key)
    if rec is None:
        return
    if kind == Due.OFFER:
        if rec.offer is not None and rec.offer.expires_at == due:
            offers.end_offer(r, rec, EventType.OFFER_EXPIRED, "no answer")
    elif kind == Due.WRAP:
        if rec.interaction.state == InteractionState.WRAP_UP and rec.wrap_up_until == due:
            interactions.finish_wrap_up(r, rec, at=due)
    elif kind == Due.RELAX:
        offers.relax(r, rec)
    elif kind == Due.LAPSE:
        offers.lapse_exclusions(r, rec)
    elif kind == Due.GATE:
        offers.open_gate(r, rec)
    elif kind == Due.RULES:
        overflow.review(r, rec)
    elif kind == Due.AUTOMATION:
        automation.review(r, rec, Trigger.WAITING)
    elif kind == Due.RELEASE:
        callbacks.release(r, rec, due)
    elif kind == Due.HOLD_LIMIT:
        holds.limit_due(r, rec, due)
