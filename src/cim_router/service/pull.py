"""The pull model: an agent asks for its next interaction, or a client for the agent
chosen for an interaction, waiting up to a deadline."""

from __future__ import annotations

import asyncio

from cim_router.domain.agent import AgentState
from cim_router.domain.interaction import InteractionState
from cim_router.service.errors import FailedPrecondition
from cim_router.service.lifecycle import OPEN, TenantRouter
from cim_router.service.records import InteractionRecord
from cim_router.service.watch import NoticeType


def _pending_offer_for(r: TenantRouter, agent_id: str) -> InteractionRecord | None:
    offers = [x for x in r.open.values() if x.offer is not None and x.offer.agent_id == agent_id]
    return min(offers, key=lambda x: x.offer.offered_at if x.offer else 0.0, default=None)


async def assign_agent(r: TenantRouter, agent_id: str, wait: float) -> InteractionRecord | None:
    """The agent's next interaction, accepted on its behalf; waits up to `wait` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    async with r.lock:
        r._check_available()
        arec = r._agent(agent_id)
        rec = _pending_offer_for(r, agent_id)
        if rec is None and arec.agent.state != AgentState.AVAILABLE:
            raise FailedPrecondition(
                f"agent {agent_id!r} is {arec.agent.state.name}, not AVAILABLE"
            )
        if rec is not None:
            out = r._accept(rec)
        else:
            watcher = r.hub.subscribe(frozenset({agent_id}))
    if rec is not None:
        await r._durable()
        return out
    try:
        while (left := deadline - loop.time()) > 0:
            notice = await watcher.next(left)
            if notice is None:
                return None
            if notice.type != NoticeType.OFFERED:
                continue
            async with r.lock:
                r._check_available()
                found = r.open.get(notice.record.id)
                if found is None or found.offer is None or found.offer.agent_id != agent_id:
                    continue
                out = r._accept(found)
            await r._durable()
            return out
        return None
    finally:
        r.hub.unsubscribe(watcher)


async def assign_interaction(
    r: TenantRouter, interaction_id: str, wait: float
) -> tuple[str, InteractionRecord]:
    """The agent chosen for an interaction: offered to or holding it; "" if none yet."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    async with r.lock:
        r._check_available()
        rec = await r._interaction(interaction_id)
        state = rec.interaction.state
        if state not in OPEN:
            raise FailedPrecondition(f"interaction {interaction_id!r} is {state.name}")
        chosen = rec.offer.agent_id if rec.offer is not None else ""
        if not chosen and state == InteractionState.ASSIGNED:
            chosen = rec.agent_id
        snap = rec.snapshot()
        watcher = None if chosen else r.hub.subscribe(None)
    if watcher is None:
        await r._durable()
        return chosen, snap
    try:
        while (left := deadline - loop.time()) > 0:
            notice = await watcher.next(left)
            if notice is None:
                break
            if notice.type == NoticeType.OFFERED and notice.record.id == interaction_id:
                return notice.agent_id, notice.record
        rec = await r._interaction(interaction_id)
        return "", rec.snapshot()
    finally:
        r.hub.unsubscribe(watcher)
