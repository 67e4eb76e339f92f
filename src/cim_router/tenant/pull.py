"""The pull model: an agent asks for its next interaction, or a client for the agent
chosen for an interaction, waiting up to a deadline."""

from __future__ import annotations

import asyncio

from cim_router.domain.agent import AgentState
from cim_router.domain.interaction import InteractionState
from cim_router.tenant.errors import FailedPrecondition
from cim_router.tenant.interactions import replay_interaction, take_offer
from cim_router.tenant.records import InteractionRecord, RequestKey
from cim_router.tenant.router import OPEN, TenantRouter
from cim_router.tenant.watch import NoticeType

PARKED = "Assign"  # the kind of watcher a waiting Assign is, for the per-tenant cap


def _pending_offer_for(r: TenantRouter, agent_id: str) -> InteractionRecord | None:
    offers = [x for x in r.open.values() if x.offer is not None and x.offer.agent_id == agent_id]
    return min(offers, key=lambda x: x.offer.offered_at if x.offer else 0.0, default=None)


async def assign_agent(
    r: TenantRouter,
    agent_id: str,
    wait: float,
    request: RequestKey | None = None,
    max_parked: int | None = None,
) -> InteractionRecord | None:
    """The agent's next interaction, accepted on its behalf; waits up to `wait` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait

    def take_pending() -> InteractionRecord | None:
        arec = r.agent(agent_id)
        rec = _pending_offer_for(r, agent_id)
        if rec is not None:
            return take_offer(r, rec)
        if arec.agent.state != AgentState.AVAILABLE:
            raise FailedPrecondition(
                f"agent {agent_id!r} is {arec.agent.state.name}, not AVAILABLE"
            )
        return None

    replay = replay_interaction(r)

    def accepted(out: InteractionRecord | None) -> str:
        return out.id if out is not None else ""

    # Subscribed first, so that no offer made from here on is missed.
    watcher = r.hub.subscribe(frozenset({agent_id}), PARKED, max_parked) if wait > 0 else None
    try:
        out = await r.mutate(take_pending, request, replay, accepted, record_noop=False)
        if out is not None or watcher is None:
            return out
        while (left := deadline - loop.time()) > 0:
            notice = await watcher.next(left)
            if notice is None:
                return None
            if notice.type != NoticeType.OFFERED:
                continue
            interaction_id = notice.record.id

            def take_offered(iid: str = interaction_id) -> InteractionRecord | None:
                found = r.open.get(iid)
                if found is None or found.offer is None or found.offer.agent_id != agent_id:
                    return None
                return take_offer(r, found)

            out = await r.mutate(take_offered, request, replay, accepted, record_noop=False)
            if out is not None:
                return out
        return None
    finally:
        if watcher is not None:
            r.hub.unsubscribe(watcher)


async def assign_interaction(
    r: TenantRouter, interaction_id: str, wait: float, max_parked: int | None = None
) -> tuple[str, InteractionRecord]:
    """The agent chosen for an interaction: offered to or holding it; "" if none yet."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    r.check_available()
    rec = await r.interaction(interaction_id)
    state = rec.interaction.state
    if state not in OPEN:
        raise FailedPrecondition(f"interaction {interaction_id!r} is {state.name}")
    chosen = rec.offer.agent_id if rec.offer is not None else ""
    if not chosen and state == InteractionState.ASSIGNED:
        chosen = rec.agent_id
    snap = rec.snapshot()
    if chosen or wait <= 0:
        await r.read()
        return chosen, snap
    watcher = r.hub.subscribe(None, PARKED, max_parked)
    try:
        while (left := deadline - loop.time()) > 0:
            notice = await watcher.next(left)
            if notice is None:
                break
            if notice.type == NoticeType.OFFERED and notice.record.id == interaction_id:
                return notice.agent_id, notice.record
        rec = await r.interaction(interaction_id)
        return "", rec.snapshot()
    finally:
        r.hub.unsubscribe(watcher)
