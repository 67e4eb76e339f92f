"""Reading one tenant's interactions: context and history, explanations, statistics;
and the one write of an agent desktop that is not a routing step, UpdateContext."""

from __future__ import annotations

from typing import Any

from cim_router.domain.automation import Trigger
from cim_router.domain.interaction import InteractionState
from cim_router.domain.limits import MAX_REASON_LENGTH
from cim_router.routing.explain import Explanation
from cim_router.tenant import automation
from cim_router.tenant.contexts import check_context
from cim_router.tenant.errors import FailedPrecondition, NotFound
from cim_router.tenant.interactions import replay_interaction
from cim_router.tenant.live import live_snapshot
from cim_router.tenant.measures import service_level
from cim_router.tenant.records import Event, EventType, InteractionRecord, RequestKey
from cim_router.tenant.router import TenantRouter
from cim_router.tenant.windows import TODAY, measure_rows

LINK_DEPTH = 16  # how far GetInteraction follows a customer's earlier interactions
# Events one GetInteraction returns at most, the newest: a response stays far below what a
# stock client accepts (4 MiB), however long a customer's history.
MAX_HISTORY_EVENTS = 2000


def _changed_keys(context: dict[str, Any], remove_keys: list[str]) -> str:
    """The keys an update touched, for its history event: keys only, never values, and
    no longer than any other reason, or history would grow past what the context may."""
    changed = ",".join(sorted({*context, *remove_keys}))
    if len(changed) <= MAX_REASON_LENGTH:
        return changed
    return changed[: MAX_REASON_LENGTH - 3] + "..."


async def update_context(
    r: TenantRouter,
    interaction_id: str,
    context: dict[str, Any],
    remove_keys: list[str],
    request: RequestKey | None = None,
) -> InteractionRecord:
    def apply() -> InteractionRecord:
        rec = r.live(interaction_id)
        i = rec.interaction
        removed = set(remove_keys)
        merged = {k: v for k, v in i.context.items() if k not in removed}
        merged.update(context)
        check_context(merged)
        r.put(rec)
        i.context = merged
        r.event(rec, EventType.CONTEXT_UPDATED, reason=_changed_keys(context, remove_keys))
        automation.review(r, rec, Trigger.CONTEXT)
        return rec.snapshot()

    return await r.mutate(apply, request, replay_interaction(r), interaction_id)


async def get_interaction(
    r: TenantRouter, interaction_id: str
) -> tuple[InteractionRecord, list[Event]]:
    """The interaction and its history, the customer's earlier linked ones first."""
    r.check_available()
    rec = (await r.interaction(interaction_id)).snapshot()
    await r.read()  # the history read below then holds every event up to `rec`
    chain: list[list[Event]] = [await r.store.read_history(r.tenant, rec.id)]
    link, seen = rec.linked_interaction_id, {rec.id}
    while link and link not in seen and len(seen) <= LINK_DEPTH:
        seen.add(link)
        chain.append(await r.store.read_history(r.tenant, link))
        try:
            earlier = await r.interaction(link)
        except NotFound:  # an expired earlier interaction ends the chain
            break
        link = earlier.linked_interaction_id
    history = [e for events in reversed(chain) for e in events]
    return rec, history[-MAX_HISTORY_EVENTS:]


def queue_open(r: TenantRouter, rec: InteractionRecord) -> bool:
    """Whether the interaction's queue is open now (a queue since removed: True)."""
    queue = r.queues.get(rec.interaction.queue_id)
    return True if queue is None else queue.hours.is_open(r.clock())


async def explain(r: TenantRouter, interaction_id: str) -> tuple[Explanation, bool, str]:
    """(explanation, live, chosen agent): live for a waiting interaction, else the
    explanation recorded with the last routing decision."""
    r.check_available()
    rec = await r.interaction(interaction_id)
    now = r.clock()
    if r.engine.is_waiting(interaction_id):
        chosen = r.engine.best_agent(interaction_id, now) or ""
        return r.engine.explain(interaction_id, now), True, chosen
    if rec.explanation is None and rec.rules_fired:  # a rule ended it before any offer
        return Explanation(interaction_id, now, 0, 0.0, 0, 0), False, ""
    if rec.explanation is None:
        raise FailedPrecondition(
            f"no routing decision is recorded for interaction {interaction_id!r}"
        )
    chosen = rec.explanation.winner.agent_id if rec.explanation.winner else ""
    return rec.explanation, False, chosen


def empty_stats(now: float) -> dict[str, Any]:
    """The statistics of a tenant that has nothing yet: no measures, no service level."""
    return {
        "at": now,
        "waiting": 0,
        "by_channel": {},
        "by_skill": {},
        "longest_wait": 0.0,
        "by_state": {},
        "offered": 0,
        "answered": 0,
        "abandoned": 0,
        "completed": 0,
        "service_level": None,
        "quarantined": [],
        "measures": [],
        "held": 0,
    }


async def stats(r: TenantRouter, queue_id: str = "") -> dict[str, Any]:
    """The tenant's live state and counters, and its measures (tenant/windows.py); with
    `queue_id`, only that queue's measures. `service_level` is the tenant's since
    midnight, by the one definition (None when there is nothing to measure)."""
    r.check_available()
    if queue_id and queue_id not in r.queues and all(q != queue_id for q, _ in r.tallies.pairs):
        raise NotFound(f"queue {queue_id!r} not found")  # a queue removed keeps its counts
    now = r.clock()
    rows = measure_rows(r, now, queue_id or None)
    queued = [x for x in r.open.values() if x.interaction.state == InteractionState.QUEUED]
    waiting = [x for x in queued if not x.not_before]  # held work is not waiting yet
    live = live_snapshot(r.tenant, waiting, r.agents.values(), now)
    counters = dict(r.counters)
    quarantined = sorted(r.quarantined)
    await r.read()
    answered, abandoned = counters.get("answered", 0), counters.get("abandoned", 0)
    today = measure_rows(r, now) if queue_id else rows
    tenant_today = next(
        x for x in today if x.window == TODAY and not x.queue_id and x.channel is None
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
        "service_level": service_level(tenant_today.tally),
        "quarantined": quarantined,
        "measures": rows,
        "held": len(queued) - len(waiting),
    }
