"""Holds: the agent holding an interaction puts the customer on hold and takes them off.

A hold runs from Hold to Resume, or until the interaction is completed, cancelled or
transferred away (`end_hold`, called by those units of work). The record keeps whether it
is on hold and since when, how many holds started, and the seconds of those that ended; a
read adds the running hold's time up to now (`hold_seconds_now`). A hold that lasts past
the policy's `hold_limit_seconds` raises HOLD_LIMIT_EXCEEDED once, on a timer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from cim_router.domain.interaction import InteractionState
from cim_router.tenant import counting
from cim_router.tenant.errors import FailedPrecondition
from cim_router.tenant.records import EventType, InteractionRecord, RequestKey, RequestOutcome
from cim_router.tenant.router import TenantRouter
from cim_router.tenant.timers import Due

# Why a hold ended without Resume: the RESUMED event's reason.
ENDED_BY_COMPLETE = "completed"
ENDED_BY_CANCEL = "cancelled"
ENDED_BY_TRANSFER = "transferred"


def hold_seconds_now(rec: InteractionRecord, now: float) -> float:
    """The interaction's total hold time, a running hold counted up to `now`."""
    running = max(0.0, now - rec.hold_started_at) if rec.hold_started_at else 0.0
    return rec.hold_seconds + running


def _replay(r: TenantRouter) -> Callable[[RequestOutcome], Awaitable[InteractionRecord]]:
    async def replay(outcome: RequestOutcome) -> InteractionRecord:
        return (await r.interaction(outcome.entity)).snapshot()

    return replay


def _held_by(r: TenantRouter, interaction_id: str, agent_id: str) -> InteractionRecord:
    rec = r.live(interaction_id)
    state = rec.interaction.state
    if state != InteractionState.ASSIGNED:
        raise FailedPrecondition(f"interaction {interaction_id!r} is {state.name}, not ASSIGNED")
    if agent_id and agent_id != rec.agent_id:
        raise FailedPrecondition(
            f"interaction {interaction_id!r} is not held by agent {agent_id!r}"
        )
    return rec


async def hold(
    r: TenantRouter,
    interaction_id: str,
    agent_id: str,
    reason: str,
    request: RequestKey | None = None,
) -> InteractionRecord:
    """Put an ASSIGNED interaction on hold (FAILED_PRECONDITION if it already is)."""

    def apply() -> InteractionRecord:
        rec = _held_by(r, interaction_id, agent_id)
        if rec.hold_started_at:
            raise FailedPrecondition(f"interaction {interaction_id!r} is already on hold")
        now = r.clock()
        r.put(rec)
        rec.hold_started_at = now
        rec.hold_count += 1
        rec.hold_limit_raised = False
        r.event(rec, EventType.HELD, rec.agent_id, reason)
        limit = r.policy.hold_limit_seconds
        if limit > 0:
            r.at(now + limit, Due.HOLD_LIMIT, rec.id)
        return rec.snapshot()

    return await r.mutate(apply, request, _replay(r), interaction_id)


async def resume(
    r: TenantRouter, interaction_id: str, agent_id: str, request: RequestKey | None = None
) -> InteractionRecord:
    """Take an interaction off hold (FAILED_PRECONDITION if it is not on hold)."""

    def apply() -> InteractionRecord:
        rec = _held_by(r, interaction_id, agent_id)
        if not rec.hold_started_at:
            raise FailedPrecondition(f"interaction {interaction_id!r} is not on hold")
        end_hold(r, rec, "")
        return rec.snapshot()

    return await r.mutate(apply, request, _replay(r), interaction_id)


def end_hold(r: TenantRouter, rec: InteractionRecord, why: str) -> None:
    """End `rec`'s running hold, if any, in the open unit: its time is added and counted,
    RESUMED says why ("" for Resume). Called before the holder lets the interaction go."""
    if not rec.hold_started_at:
        return
    seconds = max(0.0, r.clock() - rec.hold_started_at)
    r.put(rec)
    rec.hold_seconds += seconds
    rec.last_hold_seconds = seconds
    rec.hold_started_at = 0.0
    rec.hold_limit_raised = False
    r.event(rec, EventType.RESUMED, rec.agent_id, why)
    counting.hold_ended(r, rec, seconds)


def limit_due(r: TenantRouter, rec: InteractionRecord, due: float) -> None:
    """The hold limit's timer: raise the event once, if this hold is the one the timer
    was set for and it is still running (a timer of an earlier hold finds a later start)."""
    limit = r.policy.hold_limit_seconds
    started = rec.hold_started_at
    if limit <= 0 or not started or rec.hold_limit_raised or due < started + limit:
        return
    r.put(rec).hold_limit_raised = True
    r.event(rec, EventType.HOLD_LIMIT_EXCEEDED, rec.agent_id)


def schedule_at_load(r: TenantRouter, rec: InteractionRecord) -> None:
    """A load's timer for a hold still running whose limit has not been raised yet (due
    at once if the limit passed while the router was down)."""
    limit = r.policy.hold_limit_seconds
    if limit > 0 and rec.hold_started_at and not rec.hold_limit_raised:
        r.at(rec.hold_started_at + limit, Due.HOLD_LIMIT, rec.id)
