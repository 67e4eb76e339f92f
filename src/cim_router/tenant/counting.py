"""What each lifecycle event counts towards the measures (docs/measures.md), called inside
the event's unit of work so the counts are stored with the change that caused them.

Counts go to the interaction's queue and its channel at the time of the event, in the
bucket of the event's minute.
"""

from __future__ import annotations

from cim_router.tenant.records import CustomerRecord, InteractionRecord
from cim_router.tenant.router import TenantRouter

DAY_SECONDS = 24 * 3600.0


def offered(r: TenantRouter, rec: InteractionRecord) -> None:
    """It entered its queue (at Enqueue, or when scheduled work's time came)."""
    i = rec.interaction
    r.tally(i.queue_id, i.channel, "offered")


def enqueued(
    r: TenantRouter,
    rec: InteractionRecord,
    customer: CustomerRecord | None,
    earlier: InteractionRecord | None,
) -> None:
    """An interaction was enqueued (`offered` is counted when it enters its queue):
    outbound, counted as such; inbound with a customer id, a contact, and a repeat of the
    earlier contact if an agent served that customer within the FCR window (counted
    against the earlier interaction's queue and channel: that one was not resolved)."""
    i = rec.interaction
    if rec.outbound:
        r.tally(i.queue_id, i.channel, "outbound")
    if not i.customer_id or rec.outbound:  # proactive work is not the customer's contact
        return
    r.tally(i.queue_id, i.channel, "contacts")
    if customer is None or customer.last_served_at <= 0:
        return
    window = r.policy.fcr_window_days * DAY_SECONDS
    if i.enqueued_at - customer.last_served_at <= window:
        rec.repeat = True  # kept on the record: the customer view counts it (GetCustomer)
        if earlier is not None:
            r.tally(earlier.interaction.queue_id, earlier.interaction.channel, "repeats")
        else:
            r.tally(i.queue_id, i.channel, "repeats")


def answered(r: TenantRouter, rec: InteractionRecord, now: float) -> None:
    """First accept: answered, within the target or not, and the wait. The target is the
    interaction's own when its Enqueue set one, else its queue's."""
    i = rec.interaction
    wait = max(0.0, now - i.enqueued_at)
    r.tally(i.queue_id, i.channel, "answered")
    r.tally(i.queue_id, i.channel, "wait_seconds", wait)
    if wait <= (i.sla_seconds or r.queue_clock(i.queue_id, i.channel).sla_seconds):
        r.tally(i.queue_id, i.channel, "answered_in_sla")


def abandoned(r: TenantRouter, rec: InteractionRecord, now: float) -> None:
    """The customer left before any agent answered; a short abandon under the policy's
    threshold. Outbound work (callbacks included) and work not yet routed is no abandon."""
    i = rec.interaction
    if rec.outbound or rec.not_before:
        return
    r.tally(i.queue_id, i.channel, "abandoned")
    if now - i.enqueued_at < r.policy.short_abandon_seconds:
        r.tally(i.queue_id, i.channel, "short_abandoned")


def handled(r: TenantRouter, rec: InteractionRecord, now: float) -> None:
    """The conversation ended (Complete): handled, with its talk time since the accept."""
    i = rec.interaction
    r.tally(i.queue_id, i.channel, "handled")
    r.tally(i.queue_id, i.channel, "handle_seconds", max(0.0, now - rec.assigned_at))


def wrapped(r: TenantRouter, rec: InteractionRecord, now: float) -> None:
    """Wrap-up ended (by its timer or an early second Complete): its time."""
    i = rec.interaction
    started = rec.wrap_up_until - r.policy.wrap_up_seconds[i.channel]
    r.tally(i.queue_id, i.channel, "wrap_seconds", max(0.0, now - started))


def transferred(r: TenantRouter, rec: InteractionRecord) -> None:
    i = rec.interaction
    r.tally(i.queue_id, i.channel, "transferred")


def csat_given(r: TenantRouter, rec: InteractionRecord, csat: int) -> None:
    """A score given (1..5); a second score replaces the first."""
    if not csat:
        return
    i = rec.interaction
    if rec.csat:
        if csat != rec.csat:
            r.tally(i.queue_id, i.channel, "csat_sum", csat - rec.csat)
    else:
        r.tally(i.queue_id, i.channel, "csat_count")
        r.tally(i.queue_id, i.channel, "csat_sum", csat)


def overflowed(r: TenantRouter, rec: InteractionRecord) -> None:
    """An overflow rule moved it out of its queue or ended it, or the queue's maximum wait
    ended it: counted against the queue it leaves."""
    i = rec.interaction
    r.tally(i.queue_id, i.channel, "overflowed")


def moved_in(r: TenantRouter, rec: InteractionRecord) -> None:
    """A rule moved it into its (new) queue: offered there."""
    i = rec.interaction
    r.tally(i.queue_id, i.channel, "offered")


def callback_requested(r: TenantRouter, rec: InteractionRecord) -> None:
    i = rec.interaction
    r.tally(i.queue_id, i.channel, "callbacks")


def callback_attempted(r: TenantRouter, rec: InteractionRecord) -> None:
    i = rec.interaction
    r.tally(i.queue_id, i.channel, "callback_attempts")


def hold_ended(r: TenantRouter, rec: InteractionRecord, seconds: float) -> None:
    """A hold ended (Resume, or the interaction completed, cancelled or transferred away):
    one hold, and its seconds."""
    i = rec.interaction
    r.tally(i.queue_id, i.channel, "holds")
    r.tally(i.queue_id, i.channel, "hold_seconds", seconds)
