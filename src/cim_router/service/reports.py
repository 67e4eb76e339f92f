"""Reading one tenant's interactions: context and history, explanations, statistics;
and the one write of an agent desktop that is not a routing step, UpdateContext."""

from __future__ import annotations

from typing import Any

from cim_router.domain.interaction import InteractionState
from cim_router.domain.limits import MAX_REASON_LENGTH
from cim_router.observability.live import live_snapshot
from cim_router.routing.explain import Explanation
from cim_router.service.errors import FailedPrecondition, NotFound
from cim_router.service.lifecycle import TenantRouter, check_context
from cim_router.service.records import Event, EventType, InteractionRecord, Transition

LINK_DEPTH = 16  # how far GetInteraction follows a customer's earlier interactions


def _changed_keys(context: dict[str, Any], remove_keys: list[str]) -> str:
    """The keys an update touched, for its history event: keys only, never values, and
    no longer than any other reason, or history would grow past what the context may."""
    changed = ",".join(sorted({*context, *remove_keys}))
    if len(changed) <= MAX_REASON_LENGTH:
        return changed
    return changed[: MAX_REASON_LENGTH - 3] + "..."


async def update_context(
    r: TenantRouter, interaction_id: str, context: dict[str, Any], remove_keys: list[str]
) -> InteractionRecord:
    async with r.lock:
        r._check_available()
        rec = r._live(interaction_id)
        i = rec.interaction
        removed = set(remove_keys)
        merged = {k: v for k, v in i.context.items() if k not in removed}
        merged.update(context)
        check_context(merged)
        i.context = merged
        changed = _changed_keys(context, remove_keys)
        t = Transition(interactions=[rec])
        t.events.append(r._event(rec, EventType.CONTEXT_UPDATED, reason=changed))
        r._submit(t)
        out = rec.snapshot()
    await r._durable()
    return out


async def get_interaction(
    r: TenantRouter, interaction_id: str
) -> tuple[InteractionRecord, list[Event]]:
    """The interaction and its history, the customer's earlier linked ones first."""
    r._check_available()
    rec = (await r._interaction(interaction_id)).snapshot()
    await r._durable()  # the history read below then holds every event up to `rec`
    chain: list[list[Event]] = [await r.store.read_history(r.tenant, rec.id)]
    link, seen = rec.linked_interaction_id, {rec.id}
    while link and link not in seen and len(seen) <= LINK_DEPTH:
        seen.add(link)
        chain.append(await r.store.read_history(r.tenant, link))
        try:
            earlier = await r._interaction(link)
        except NotFound:  # an expired earlier interaction ends the chain
            break
        link = earlier.linked_interaction_id
    return rec, [e for events in reversed(chain) for e in events]


async def explain(r: TenantRouter, interaction_id: str) -> tuple[Explanation, bool, str]:
    """(explanation, live, chosen agent): live for a waiting interaction, else the
    explanation recorded with the last routing decision."""
    async with r.lock:
        r._check_available()
        rec = await r._interaction(interaction_id)
        now = r.clock()
        if r.engine.core.is_waiting(interaction_id):
            chosen = r.engine.best_agent(interaction_id, now) or ""
            return r.engine.explain(interaction_id, now), True, chosen
        if rec.explanation is None:
            raise FailedPrecondition(
                f"no routing decision is recorded for interaction {interaction_id!r}"
            )
        chosen = rec.explanation.winner.agent_id if rec.explanation.winner else ""
        return rec.explanation, False, chosen


async def stats(r: TenantRouter) -> dict[str, Any]:
    r._check_available()
    now = r.clock()
    waiting = [x for x in r.open.values() if x.interaction.state == InteractionState.QUEUED]
    live = live_snapshot(r.tenant, waiting, r.agents.values(), now)
    counters = dict(r.counters)
    await r._durable()
    answered, abandoned = counters.get("answered", 0), counters.get("abandoned", 0)
    level = (
        counters.get("answered_in_sla", 0) / (answered + abandoned) if answered + abandoned else 1.0
    )
    return {
        "at": now,
        "waiting": len(waiting),
        "by_channel": dict(live.waiting_by_channel),
        "by_skill": dict(live.waiting_by_skill),
        "longest_wait": max(live.longest_wait_by_channel.values(), default=0.0),
        "by_state": dict(live.agents_by_state),
        "offered": counters.get("offered", 0),
        "answered": answered,
        "abandoned": abandoned,
        "completed": counters.get("completed", 0),
        "service_level": level,
    }
