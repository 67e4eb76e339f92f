"""Callbacks and scheduled work.

- **Scheduled work**: an Enqueue with `not_before` later than now is stored at once and
  held: in its queue (ListInteractions, GetInteraction show it) but not routed, its place
  in line counted from `not_before`. At that time it starts routing as a new arrival does.
- **Callbacks** (virtual hold): RequestCallback turns waiting voice or video work into a
  callback to an address. It keeps its place in line, and the customer may hang up; when
  its turn comes it is offered as an outbound callback. Complete with a disposition the
  policy counts as a failed attempt (`no_answer`, `busy`, ...) records the attempt and,
  while attempts remain, holds it again for the retry delay, keeping its place; the last
  failed attempt completes it with that disposition.
- **Outbound** work (`direction = outbound`, callbacks included) routes like any other but
  is never counted as an abandoned inbound contact, nor as a customer's contact.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cim_router.domain.automation import Trigger
from cim_router.domain.channel import Channel
from cim_router.domain.interaction import InteractionState
from cim_router.tenant import automation, counting, offers, overflow
from cim_router.tenant.errors import FailedPrecondition, InvalidArgument
from cim_router.tenant.records import (
    AgentRecord,
    Callback,
    CallbackAttempt,
    EventType,
    InteractionRecord,
    RequestKey,
)
from cim_router.tenant.replays import replay_interaction
from cim_router.tenant.router import TenantRouter
from cim_router.tenant.timers import Due
from cim_router.tenant.watch import NoticeType

CALLBACK_CHANNELS = frozenset({Channel.VOICE, Channel.VIDEO})


@dataclass(frozen=True)
class Terms:
    """How an Enqueue's work is routed: its direction, and the time before which it is
    held (0: now)."""

    outbound: bool = False
    not_before: float = 0.0


NOW = Terms()
MAX_ATTEMPTS = 20
MAX_RETRY_SECONDS = 7 * 86_400.0


def held(r: TenantRouter, rec: InteractionRecord) -> bool:
    """Whether `rec` is stored but not routed yet (scheduled, or a callback's retry)."""
    return rec.not_before > 0 and rec.interaction.state == InteractionState.QUEUED


# --- routing starts or waits ----------------------------------------------------------------


def begin(r: TenantRouter, rec: InteractionRecord) -> None:
    """A new interaction: held until `not_before`, or into its queue now."""
    if rec.not_before > r.clock():
        hold(r, rec, rec.not_before)
        return
    rec.not_before = 0.0
    start(r, rec, first=True)


def hold(r: TenantRouter, rec: InteractionRecord, until: float) -> None:
    """Keep `rec` out of routing until `until` (a timer then starts it)."""
    r.engine.remove(rec.id)
    rec.not_before = until
    r.at(until, Due.RELEASE, rec.id)


def release(r: TenantRouter, rec: InteractionRecord, due: float) -> None:
    """A hold ended (its RELEASE timer): route it, unless that timer is stale."""
    if not held(r, rec) or rec.not_before != due:
        return
    r.put(rec)
    rec.not_before = 0.0
    first = rec.callback is None or not rec.callback.attempts
    r.event(rec, EventType.RELEASED)
    start(r, rec, first=first)


def start(r: TenantRouter, rec: InteractionRecord, first: bool) -> None:
    """Into the queue: indexed, the queue's overflow rules and the automation rules
    looked at, then offered to the best free agent."""
    if first:
        counting.offered(r, rec)
    offers.index_interaction(r, rec, arrival=first)
    overflow.entered(r, rec)
    automation.review(r, rec, Trigger.ENQUEUED)
    if overflow.waiting(r, rec):
        automation.schedule(r, rec)
        offers.route_interaction(r, rec)


# --- callbacks ------------------------------------------------------------------------------


async def request_callback(
    r: TenantRouter,
    interaction_id: str,
    address: str,
    max_attempts: int,
    retry_seconds: float,
    request: RequestKey | None = None,
) -> InteractionRecord:
    """Turn waiting voice or video work into a callback that keeps its place in line."""

    def apply() -> InteractionRecord:
        rec = r.live(interaction_id)
        i = rec.interaction
        if i.state not in (InteractionState.QUEUED, InteractionState.OFFERED):
            raise FailedPrecondition(
                f"interaction {interaction_id!r} is {i.state.name}: only waiting work "
                "becomes a callback"
            )
        if i.channel not in CALLBACK_CHANNELS:
            raise InvalidArgument(
                "interaction_id",
                f"interaction {interaction_id!r} is {i.channel.name}: "
                "callbacks are for VOICE and VIDEO",
            )
        if rec.callback is not None:
            raise FailedPrecondition(f"interaction {interaction_id!r} is a callback already")
        settings = r.queues.get(i.queue_id)
        attempts = max_attempts or (settings.callback_attempts if settings else 0)
        retry = retry_seconds or (settings.callback_retry_seconds if settings else 0.0)
        r.put(rec)
        rec.callback = Callback(
            address,
            attempts or r.policy.callback_attempts,
            retry or r.policy.callback_retry_seconds,
            r.clock(),
        )
        rec.outbound = True
        r.event(rec, EventType.CALLBACK_REQUESTED)
        counting.callback_requested(r, rec)
        return rec.snapshot()

    return await r.mutate(apply, request, replay_interaction(r), interaction_id)


def failed_attempt(r: TenantRouter, rec: InteractionRecord, disposition: str) -> bool:
    """Whether Complete with `disposition` on `rec` is a failed callback attempt."""
    return rec.callback is not None and disposition in r.policy.callback_retry_dispositions


def attempt_failed(
    r: TenantRouter, rec: InteractionRecord, arec: AgentRecord, disposition: str
) -> bool:
    """A callback attempt failed (Complete with a retry disposition): recorded; while
    attempts remain the agent is released and the callback held for the retry delay,
    keeping its place. Returns False when it was the last attempt (the caller completes
    it as usual, with that disposition)."""
    callback = rec.callback
    assert callback is not None
    now = r.clock()
    r.put(rec)
    done = (*callback.attempts, CallbackAttempt(now, disposition, arec.agent.id))
    rec.callback = replace(callback, attempts=done)
    r.event(rec, EventType.CALLBACK_ATTEMPTED, arec.agent.id, disposition)
    counting.callback_attempted(r, rec)
    if len(done) >= callback.max_attempts:
        return False
    i = rec.interaction
    offers.free_agent(r, arec, i.channel)
    i.state = InteractionState.QUEUED
    rec.agent_id = ""
    rec.assigned_at = 0.0
    hold(r, rec, now + callback.retry_seconds)
    r.index_agent(arec)
    r.notify(NoticeType.RELEASED, arec.agent.id, rec)
    offers.route_agent(r, arec.agent.id)
    return True


def attempt_succeeded(
    r: TenantRouter, rec: InteractionRecord, arec: AgentRecord, disposition: str
) -> None:
    """A callback attempt reached the customer: recorded; Complete goes on as usual."""
    callback = rec.callback
    assert callback is not None
    r.put(rec)
    done = (*callback.attempts, CallbackAttempt(r.clock(), disposition, arec.agent.id))
    rec.callback = replace(callback, attempts=done)
    r.event(rec, EventType.CALLBACK_ATTEMPTED, arec.agent.id, disposition)
    counting.callback_attempted(r, rec)
