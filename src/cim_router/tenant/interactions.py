"""An interaction's lifecycle on one tenant: enqueue, accept, reject, complete, cancel.

Each public coroutine is one unit of work on the tenant's `TenantRouter`; what they take
has been checked at the edge (service/convert.py), and each checks state before it
changes anything.
"""

from __future__ import annotations

from cim_router.domain.agent import AgentState
from cim_router.domain.channel import Channel
from cim_router.domain.interaction import Interaction, InteractionState
from cim_router.domain.limits import MAX_PRIORITY, MAX_SKILLS_PER_INTERACTION
from cim_router.domain.queues import Queue
from cim_router.tenant import (
    agents,
    callbacks,
    counting,
    feedback,
    holds,
    idle,
    offers,
    overflow,
    queues,
)
from cim_router.tenant.contexts import context_fits
from cim_router.tenant.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    ResourceExhausted,
)
from cim_router.tenant.records import (
    AgentRecord,
    CustomerRecord,
    EventType,
    InteractionRecord,
    RequestKey,
    RequestOutcome,
)
from cim_router.tenant.replays import replay_interaction as replay_interaction
from cim_router.tenant.router import OPEN, TenantRouter
from cim_router.tenant.timers import Due
from cim_router.tenant.watch import NoticeType

Enqueued = tuple[InteractionRecord, bool, int, float]  # record, created, position, wait


# --- enqueue --------------------------------------------------------------------------------


async def enqueue(
    r: TenantRouter,
    interaction: Interaction,
    digest: bytes,
    request: RequestKey | None = None,
    terms: callbacks.Terms = callbacks.NOW,
) -> Enqueued:
    """Add an interaction, or return the one already enqueued under its id (the same
    request again: `created` is False; another request: ALREADY_EXISTS). `terms`: its
    direction, and when it may be routed (callbacks.py)."""
    r.check_available()
    if interaction.customer_tier not in r.policy.customer_tiers:
        raise InvalidArgument(
            "customer_tier", f"unknown customer tier {interaction.customer_tier!r}"
        )
    stored, customer, earlier = await _prefetch(r, interaction)

    def apply() -> Enqueued:
        existing = r.open.get(interaction.id) or r.closed.get(interaction.id) or stored
        if existing is None:
            # A write since the read (another enqueue or accept of this customer) is newer.
            known = r.customers.get(interaction.customer_id, customer)
            last = earlier
            if known is not None and known is not customer:
                wanted = known.last_interaction_id
                last = r.open.get(wanted) or r.closed.get(wanted) or earlier
            _enter_queue(r, interaction)
            return _create(r, interaction, digest, known, last, terms)
        if existing.request_digest != digest:
            raise AlreadyExists(
                f"interaction_id: {interaction.id!r} was enqueued with a different request"
            )
        return existing.snapshot(), False, *position(r, existing)

    async def replay(outcome: RequestOutcome) -> Enqueued:
        rec = await r.interaction(outcome.entity)
        return rec.snapshot(), outcome.created, *position(r, rec)

    return await r.mutate(apply, request, replay, interaction.id, created=lambda out: out[1])


def _enter_queue(r: TenantRouter, interaction: Interaction) -> None:
    """A new interaction's queue: it must exist, take the channel and have room; its
    defaults are added to the interaction's. (A repeated Enqueue answers with the one it
    made, whatever became of its queue; a reused request id is answered before this.)"""
    queue = queues.find(r, interaction.queue_id)
    if not queue.accepts(interaction.channel):
        raise InvalidArgument(
            "channel", f"queue {queue.id!r} does not take {interaction.channel.name}"
        )
    _take_queue_defaults(interaction, queue)
    if not queue.max_size:
        return  # no limit: nothing to count (the count scans the queue's live work)
    waiting = len(queues.waiting_in(r, queue.id))
    if waiting >= queue.max_size and not overflow.sheds(queue, waiting + 1):
        raise ResourceExhausted(
            f"queue {queue.id!r} is full: {queue.max_size} interactions wait in it"
        )


def _take_queue_defaults(interaction: Interaction, queue: Queue) -> None:
    """The queue's skills added to the request's (the request's level wins for a skill in
    both), its priority added (at most MAX_PRIORITY)."""
    for name, own, extra in (
        ("required_skills", interaction.required, queue.required),
        ("preferred_skills", interaction.preferred, queue.preferred),
    ):
        have = {req.skill for req in own}
        merged = (*own, *(req for req in extra if req.skill not in have))
        if len(merged) > MAX_SKILLS_PER_INTERACTION:
            raise InvalidArgument(
                name,
                f"with queue {queue.id!r}'s skills, more than {MAX_SKILLS_PER_INTERACTION} skills",
            )
        if name == "required_skills":
            interaction.required = merged
        else:
            interaction.preferred = merged
    interaction.priority = min(MAX_PRIORITY, interaction.priority + queue.priority)


async def _prefetch(
    r: TenantRouter, interaction: Interaction
) -> tuple[InteractionRecord | None, CustomerRecord | None, InteractionRecord | None]:
    """What enqueue needs from the store, read before the lock: an interaction already
    stored under the id, the customer's record, and their last interaction. An id known
    here is a repeat, answered from memory: nothing to read."""
    if interaction.id in r.open or interaction.id in r.closed:
        return None, None, None
    stored, customer = await r.store.read_existing(
        r.tenant, interaction.id, interaction.customer_id
    )
    earlier = None
    if customer is not None and customer.last_interaction_id:
        last = customer.last_interaction_id
        earlier = r.open.get(last) or r.closed.get(last)
        if earlier is None:
            earlier = await r.store.read_interaction(r.tenant, last)
    return stored, customer, earlier


def _create(
    r: TenantRouter,
    interaction: Interaction,
    digest: bytes,
    customer: CustomerRecord | None,
    earlier: InteractionRecord | None,
    terms: callbacks.Terms,
) -> Enqueued:
    now = r.clock()
    interaction.tenant = r.tenant
    interaction.enqueued_at = max(now, terms.not_before)  # its place counts from then
    interaction.state = InteractionState.QUEUED
    r.arrivals += 1
    rec = r.put(InteractionRecord(interaction, request_digest=digest, arrival=r.arrivals))
    rec.outbound, rec.not_before = terms.outbound, terms.not_before
    r.tx.create = rec.id
    _link_customer(r, rec, now, customer, earlier)
    r.event(rec, EventType.ENQUEUED)
    counting.enqueued(r, rec, customer, earlier)
    callbacks.begin(r, rec)
    return rec.snapshot(), True, *position(r, rec)


def _link_customer(
    r: TenantRouter,
    rec: InteractionRecord,
    now: float,
    customer: CustomerRecord | None,
    earlier: InteractionRecord | None,
) -> None:
    """Carry a returning customer's context over and prefer the agent who served them."""
    i = rec.interaction
    if not i.customer_id:
        return
    if customer is None:
        r.put_customer(CustomerRecord(i.customer_id, i.id))
        return
    r.put_customer(
        CustomerRecord(i.customer_id, i.id, customer.last_agent_id, customer.last_served_at)
    )
    if earlier is not None:
        rec.linked_interaction_id = earlier.id
        merged = {**earlier.interaction.context, **i.context}
        if context_fits(merged):  # else the new context alone: the link still holds
            i.context = merged
        r.event(rec, EventType.LINKED, reason=earlier.id)
    sticky = now - customer.last_served_at <= r.policy.sticky_agent_seconds
    if not i.preferred_agent and customer.last_agent_id and sticky:
        i.preferred_agent = customer.last_agent_id


def position(r: TenantRouter, rec: InteractionRecord) -> tuple[int, float]:
    """1-based place in the service order and a rough wait estimate; (0, 0) if not waiting."""
    engine = r.engine
    if rec.interaction.state != InteractionState.QUEUED or not engine.is_waiting(rec.id):
        return 0, 0.0
    return queues.place_and_wait(r, rec)


# --- offer answers --------------------------------------------------------------------------


def offered_to(r: TenantRouter, interaction_id: str, agent_id: str) -> InteractionRecord:
    rec = r.live(interaction_id)
    r.agent(agent_id)
    if rec.offer is None or rec.offer.agent_id != agent_id:
        raise FailedPrecondition(
            f"interaction {interaction_id!r} is not offered to agent {agent_id!r}"
        )
    return rec


async def accept(
    r: TenantRouter, interaction_id: str, agent_id: str, request: RequestKey | None = None
) -> InteractionRecord:
    def apply() -> InteractionRecord:
        return take_offer(r, offered_to(r, interaction_id, agent_id))

    return await r.mutate(apply, request, replay_interaction(r), interaction_id)


def take_offer(r: TenantRouter, rec: InteractionRecord) -> InteractionRecord:
    """The offered agent accepts: the interaction is theirs (a transfer's first holder is
    released); returns a snapshot."""
    assert rec.offer is not None
    now = r.clock()
    i = rec.interaction
    agent_id = rec.offer.agent_id
    released = rec.agent_id if rec.transfer is not None else ""
    arec = r.agent(agent_id)
    prev = r.agent(released) if released else None
    r.put(rec)
    r.put_agent(arec).missed_offers = 0
    idle.took_work(arec, now)
    r.event(rec, EventType.ACCEPTED, agent_id)
    if rec.transfer is not None:
        holds.end_hold(r, rec, holds.ENDED_BY_TRANSFER)
        if prev is not None:
            offers.free_agent(r, prev, i.channel)
        if rec.transfer.channel != i.channel:
            r.event(rec, EventType.CHANNEL_CHANGED, agent_id, channel=rec.transfer.channel)
        i.channel, i.required = rec.transfer.channel, rec.transfer.required
        r.event(rec, EventType.TRANSFERRED, agent_id, rec.transfer.reason)
        rec.transfer = None
    if not rec.answered:
        rec.answered = True
        r.count("answered")
        counting.answered(r, rec, now)
    i.state = InteractionState.ASSIGNED
    rec.agent_id, rec.assigned_at, rec.offer = agent_id, now, None
    if i.customer_id:
        r.put_customer(CustomerRecord(i.customer_id, i.id, agent_id, now))
    r.index_agent(arec)
    if prev is not None:
        r.index_agent(prev)
        r.notify(NoticeType.RELEASED, released, rec)
    r.notify(NoticeType.ASSIGNED, agent_id, rec)
    if prev is not None:
        offers.route_agent(r, released)
    return rec.snapshot()


async def reject(
    r: TenantRouter,
    interaction_id: str,
    agent_id: str,
    reason: str,
    request: RequestKey | None = None,
) -> InteractionRecord:
    def apply() -> InteractionRecord:
        rec = offered_to(r, interaction_id, agent_id)
        offers.end_offer(r, rec, EventType.REJECTED, reason)
        return rec.snapshot()

    return await r.mutate(apply, request, replay_interaction(r), interaction_id)


# --- completion and cancellation ------------------------------------------------------------


def drop_transfer(r: TenantRouter, rec: InteractionRecord) -> str:
    """Abandon a pending warm transfer; returns the offered agent it released, if any."""
    released = offers.withdraw_offer(r, rec)
    r.engine.remove(rec.id)
    if rec.transfer is not None:
        r.put(rec).transfer = None
    return released


async def complete(
    r: TenantRouter,
    interaction_id: str,
    agent_id: str,
    disposition: str,
    csat: int,
    request: RequestKey | None = None,
) -> InteractionRecord:
    """End the conversation: agent and interaction into wrap-up; a second Complete
    during wrap-up ends it early."""

    def apply() -> InteractionRecord:
        rec = r.live(interaction_id)
        if agent_id and agent_id != rec.agent_id:
            raise FailedPrecondition(
                f"interaction {interaction_id!r} is not held by agent {agent_id!r}"
            )
        state = rec.interaction.state
        if state == InteractionState.WRAP_UP:
            finish_wrap_up(r, rec, disposition, csat)
        elif state != InteractionState.ASSIGNED:
            raise FailedPrecondition(
                f"interaction {interaction_id!r} is {state.name}, not ASSIGNED"
            )
        else:
            _complete(r, rec, r.agent(rec.agent_id), disposition, csat)
        return rec.snapshot()

    return await r.mutate(apply, request, replay_interaction(r), interaction_id)


def _complete(
    r: TenantRouter, rec: InteractionRecord, arec: AgentRecord, disposition: str, csat: int
) -> None:
    r.put(rec)
    holds.end_hold(r, rec, holds.ENDED_BY_COMPLETE)
    if callbacks.failed_attempt(r, rec, disposition):
        if callbacks.attempt_failed(r, rec, arec, disposition):
            return  # held for the retry; the last failed attempt completes below
    elif rec.callback is not None:
        callbacks.attempt_succeeded(r, rec, arec, disposition)
    i = rec.interaction
    now = r.clock()
    withdrawn = drop_transfer(r, rec)
    agent = arec.agent
    offers.free_agent(r, arec, i.channel)
    _learn_handle_time(r, arec, i.channel, now - rec.assigned_at)
    wrap = r.policy.wrap_up_seconds[i.channel]
    rec.disposition = disposition or rec.disposition
    counting.handled(r, rec, now)
    counting.csat_given(r, rec, csat)
    rec.csat = csat or rec.csat
    if wrap > 0:
        i.state = InteractionState.WRAP_UP
        rec.wrap_up_until = now + wrap
        r.event(rec, EventType.WRAP_UP_STARTED, agent.id)
        if agent.state in (AgentState.AVAILABLE, AgentState.WRAP_UP):
            agent.state = AgentState.WRAP_UP
            arec.wrap_up_until = max(arec.wrap_up_until, rec.wrap_up_until)
        r.at(rec.wrap_up_until, Due.WRAP, rec.id)
        if agent.state == AgentState.WRAP_UP:
            r.at(arec.wrap_up_until, Due.AGENT_WRAP, agent.id)
    else:
        i.state = InteractionState.COMPLETED
        r.event(rec, EventType.COMPLETED, agent.id, disposition)
        feedback.requested(r, rec)
        r.count("completed")
    if i.customer_id:
        r.put_customer(CustomerRecord(i.customer_id, i.id, agent.id, now))
    r.index_agent(arec)
    r.notify(NoticeType.RELEASED, agent.id, rec)
    if withdrawn:
        r.notify(NoticeType.OFFER_ENDED, withdrawn, rec)
        offers.route_agent(r, withdrawn)
    offers.route_agent(r, agent.id)


def _learn_handle_time(
    r: TenantRouter, arec: AgentRecord, channel: Channel, seconds: float
) -> None:
    if seconds <= 0:
        return
    key = ("", channel)
    old = arec.agent.handle_time.get(key, r.policy.handle_time_seconds[channel])
    learned = old + r.policy.handle_time_alpha * (seconds - old)
    arec.agent.handle_time = {**arec.agent.handle_time, key: learned}


def finish_wrap_up(
    r: TenantRouter,
    rec: InteractionRecord,
    disposition: str = "",
    csat: int = 0,
    at: float | None = None,
) -> None:
    """Wrap-up of `rec` ends (`at`: its timer's time, else now): it is COMPLETED, and its
    agent free again from then once no other interaction of theirs is still in wrap-up."""
    r.put(rec)
    counting.wrapped(r, rec, r.clock())
    counting.csat_given(r, rec, csat)
    rec.interaction.state = InteractionState.COMPLETED
    rec.disposition = disposition or rec.disposition
    rec.csat = csat or rec.csat
    r.event(rec, EventType.COMPLETED, rec.agent_id, rec.disposition)
    feedback.requested(r, rec)
    r.count("completed")
    r.index_wrap_up(rec)
    arec = r.agents.get(rec.agent_id)
    if (
        arec is not None
        and arec.agent.state == AgentState.WRAP_UP
        and not r.wrapping.get(rec.agent_id)
    ):
        agents.change_state(r, arec, AgentState.AVAILABLE, "", since=at)


async def cancel(
    r: TenantRouter, interaction_id: str, reason: str, request: RequestKey | None = None
) -> InteractionRecord:
    """The customer left: release everyone holding or offered the interaction."""

    def apply() -> InteractionRecord:
        rec = r.live(interaction_id)
        i = rec.interaction
        if i.state not in OPEN:
            raise FailedPrecondition(f"interaction {interaction_id!r} is {i.state.name}")
        offered = r.agent(rec.offer.agent_id) if rec.offer is not None else None
        holder = r.agent(rec.agent_id) if i.state == InteractionState.ASSIGNED else None
        r.put(rec)
        holds.end_hold(r, rec, holds.ENDED_BY_CANCEL)
        freed: list[tuple[NoticeType, AgentRecord]] = []
        if offered is not None and rec.offer is not None:
            offers.add_load(r.put_agent(offered), rec.offer.channel, -1)
            freed.append((NoticeType.OFFER_ENDED, offered))
        if holder is not None:
            offers.free_agent(r, holder, i.channel)
            freed.append((NoticeType.RELEASED, holder))
        else:
            r.count("abandoned")
            if not rec.answered:
                counting.abandoned(r, rec, r.clock())
        r.engine.abandon(interaction_id, r.clock())
        i.state = InteractionState.CANCELLED
        rec.agent_id, rec.offer, rec.transfer = "", None, None  # nobody holds it any more
        r.event(rec, EventType.CANCELLED, reason=reason)
        for _, arec in freed:
            r.index_agent(arec)
        for type, arec in freed:
            r.notify(type, arec.agent.id, rec)
        for _, arec in freed:
            offers.route_agent(r, arec.agent.id)
        return rec.snapshot()

    return await r.mutate(apply, request, replay_interaction(r), interaction_id)
