"""Loading a tenant from the store: state, routing index and timers, with every record
that cannot be used set aside (quarantined) so that the rest of the tenant serves."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from cim_router.domain.agent import AgentState
from cim_router.domain.errors import ValidationError
from cim_router.domain.interaction import InteractionState
from cim_router.domain.limits import MAX_CAPACITY
from cim_router.tenant import automation, callbacks, holds, offers, overflow
from cim_router.tenant.records import AgentRecord, InteractionRecord
from cim_router.tenant.recovery import recover
from cim_router.tenant.router import LIVE, TenantRouter
from cim_router.tenant.tallies import LOAD_BUCKETS, bucket_of
from cim_router.tenant.timers import Due

log = logging.getLogger(__name__)


async def load(r: TenantRouter, restart: bool) -> None:
    """Rebuild the tenant from the store.

    On a restart, offers in flight go back to the queue and agents' loads are recounted
    from what they hold, so none is over capacity."""
    async with r.lock, _no_cyclic_gc():
        r.available = False
        snap = await r.store.load(r.tenant)
        now_bucket = bucket_of(r.clock())
        tallies = await r.store.read_tallies(r.tenant, now_bucket - LOAD_BUCKETS, now_bucket)
        r.reset()
        r.persisted = r.persisted or snap.known
        r.counters = dict(snap.counters)
        r.tallies.load(tallies)
        r.requests.reset(r.clock())
        bad = dict(snap.quarantined)
        for queue in snap.queues:  # stored queues win over the policy's
            r.queues[queue.id] = queue
        for arec in snap.agents:
            _admit_agent(r, arec, bad)
        for rec in sorted(snap.interactions, key=lambda x: (x.arrival, x.interaction.enqueued_at)):
            _admit_interaction(r, rec, bad)
        with r.unit() as tx:
            if restart:
                recover(r)
            _index(r, bad)
            tx.quarantined = sorted(set(bad) - set(r.quarantined))
            r.quarantined = bad
            for queue in list(r.queues.values()):
                overflow.schedule_hours(r, queue)
            # The first firing looks at the overflow rules and offers what can be.
            r.at(r.clock(), Due.MATCH)
        r.available = True
        seq = r.seq
    for key, why in sorted(bad.items()):
        log.error(
            "record quarantined: it stays in the store, the tenant serves without it",
            extra={"tenant": r.tenant, "key": key, "error": why},
        )
    await r.store.durable(seq)
    log.info(
        "tenant loaded",
        extra={"tenant": r.tenant, "agents": len(r.agents), "open": len(r.open)},
    )


@contextlib.asynccontextmanager
async def _no_cyclic_gc() -> AsyncIterator[None]:
    """Hold off the cyclic garbage collector while a load builds its many records: they
    hold no cycles, and collections over a heap growing by a hundred thousand objects cost
    a load about a third of its time. At the end, what was built is frozen out of later
    collections (as the server freezes its heap at start): else the first allocation after
    re-enabling the collector runs a full pass over the million new objects, a sixth of a
    large load's time, and the next pass would do it again. Freed records still go by
    reference counting."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.freeze()
            gc.enable()


def _admit_agent(r: TenantRouter, arec: AgentRecord, bad: dict[str, str]) -> None:
    agent = arec.agent
    try:
        agent.validate()
        if any(not 0 <= n <= MAX_CAPACITY for n in agent.load.values()):
            raise ValidationError("agent.load", f"must be 0..{MAX_CAPACITY}")
    except ValidationError as exc:
        bad[f"agent:{agent.id}"] = exc.field
        return
    r.agents[agent.id] = arec


def _interaction_problem(r: TenantRouter, rec: InteractionRecord) -> str:
    """Why a stored open interaction cannot be used, or ""."""
    i = rec.interaction
    try:
        i.validate()
    except ValidationError as exc:
        return exc.field
    if i.state not in LIVE:
        return "state: closed, in the set of open interactions"
    # Only what an agent still holds needs it (its load): an agent may be removed during
    # the wrap-up of its last interaction, which then ends without it.
    if i.state == InteractionState.ASSIGNED and rec.agent_id not in r.agents:
        return "agent_id: unknown holder"
    if i.state == InteractionState.OFFERED and rec.offer is None:
        return "offer: OFFERED without an offer"
    if rec.offer is not None and rec.offer.agent_id not in r.agents:
        return "offer: offered to an unknown agent"
    if rec.transfer is not None and i.state != InteractionState.ASSIGNED:
        return "transfer: pending transfer on an interaction nobody holds"
    return ""


def _admit_interaction(r: TenantRouter, rec: InteractionRecord, bad: dict[str, str]) -> None:
    why = _interaction_problem(r, rec)
    if why:
        bad[f"interaction:{rec.id}"] = why
        return
    r.open[rec.id] = rec
    r.index_wrap_up(rec)
    r.track_queue(rec)
    r.arrivals = max(r.arrivals, rec.arrival)


def _index(r: TenantRouter, bad: dict[str, str]) -> None:
    """Index what was admitted and schedule its timers; a record the index refuses is
    quarantined too."""
    now = r.clock()
    rules = bool(r.policy.rules)  # no automation rules: no timers to look for
    for arec in list(r.agents.values()):
        try:
            r.index_agent(arec)
        except ValueError:
            bad[f"agent:{arec.agent.id}"] = "index: refused by the routing core"
            r.agents.pop(arec.agent.id)
            r.engine.remove_agent(arec.agent.id)
            r.unstaff(arec.agent.id)
            continue
        if arec.agent.state == AgentState.WRAP_UP:
            r.at(arec.wrap_up_until, Due.AGENT_WRAP, arec.agent.id)
    for rec in list(r.open.values()):
        if rec.exclusions:
            _lapse_unknown_exclusions(r, rec, now)
        try:
            if callbacks.held(r, rec):
                r.at(rec.not_before, Due.RELEASE, rec.id)  # a time past fires at once
            elif rec.offer is None and (
                rec.interaction.state == InteractionState.QUEUED or rec.transfer
            ):
                offers.index_interaction(r, rec)
                if rec.transfer is None:
                    overflow.schedule(r, rec)
                    if rules:
                        automation.schedule(r, rec)
        except ValueError:
            bad[f"interaction:{rec.id}"] = "index: refused by the routing core"
            r.open.pop(rec.id)
            r.untrack_queue(rec.id)
            r.engine.remove(rec.id)
            continue
        if rec.offer is not None:  # reserved: counted in its agent's load
            r.at(rec.offer.expires_at, Due.OFFER, rec.id)
        if rec.interaction.state == InteractionState.WRAP_UP:
            r.at(rec.wrap_up_until, Due.WRAP, rec.id)
        if rec.exclusions:
            for until in set(rec.exclusions.values()):
                r.at(until, Due.LAPSE, rec.id)
        if rec.hold_started_at:
            holds.schedule_at_load(r, rec)


def _lapse_unknown_exclusions(r: TenantRouter, rec: InteractionRecord, now: float) -> None:
    """Exclusions stored before they had a lapse time get one, counted from now."""
    if any(until <= 0 for until in rec.exclusions.values()):
        until = now + r.policy.exclusion_seconds
        r.put(rec).exclusions = {a: (u if u > 0 else until) for a, u in rec.exclusions.items()}
