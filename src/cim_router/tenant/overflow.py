"""Overflow rules and the queue's limits, as work waits: each rule of the interaction's queue
is looked at in order, and one whose condition holds fires once per interaction; a move
or an end stops the pass (after a move the new queue's rules are looked at in turn). Then
the queue's maximum wait: work still waiting past it ends with disposition "max_wait".

When rules are looked at (docs/service.md, "Overflow rules"): when work enters a queue
(Enqueue, a move), when it comes back to the queue after an offer, when a WAITED
threshold or the maximum wait comes due, when a queue with CLOSED rules closes, when an
agent change may leave a queue with NO_AGENTS rules unserved, after its queue is changed,
and after a load. Only work that waits (QUEUED, not offered) is looked at: a rule whose
time came while an offer was out is looked at again when the offer ends.

"Waited" counts from the interaction's enqueue time: a move that keeps its place keeps it,
a move to the back starts it again.
"""

from __future__ import annotations

from collections.abc import Iterable

from cim_router.domain.agent import AgentState
from cim_router.domain.interaction import InteractionState, SkillRequirement
from cim_router.domain.limits import MAX_PRIORITY, MAX_SKILLS_PER_INTERACTION
from cim_router.domain.queues import OverflowRule, Queue, Then, When
from cim_router.tenant import counting, offers, queues
from cim_router.tenant.errors import InvalidArgument
from cim_router.tenant.records import EventType, InteractionRecord
from cim_router.tenant.router import TenantRouter
from cim_router.tenant.timers import Due

MAX_WAIT_DISPOSITION = "max_wait"
TIMED = (When.WAITED,)
# What a load looks at: the conditions that come true with time alone (a threshold waited
# past, hours that closed) while the router was down. The others (size, no agents, the
# expected wait) are looked at when something changes them, as they were before the
# restart; looking at them on a load would fire rules that running on would not.
CLOCK_DRIVEN = frozenset({When.WAITED, When.CLOSED})
# Moves one pass may make: each rule fires once, so a pass ends anyway; this bounds it
# below the number of rules a tenant can hold.
MAX_MOVES = 64


def tag(queue_id: str, rule: str) -> str:
    """How a fired rule is recorded on the interaction and shown by Explain."""
    return f"{queue_id}/{rule}"


def waiting(r: TenantRouter, rec: InteractionRecord) -> bool:
    i = rec.interaction
    return (
        i.state == InteractionState.QUEUED
        and rec.offer is None
        and rec.id in r.open
        and r.engine.is_waiting(rec.id)
    )


def sheds(queue: Queue, size: int) -> bool:
    """Whether a SIZE rule moves or ends new work when `size` wait in the queue: a full
    queue then still takes an Enqueue (the rule sends it on)."""
    return any(
        rule.when == When.SIZE and rule.then in (Then.MOVE, Then.END) and size > rule.threshold
        for rule in queue.overflow
    )


def has_work(queue: Queue) -> bool:
    """Whether anything here is ever looked at for the queue's waiting work."""
    return bool(queue.overflow) or queue.max_wait_seconds > 0


# --- when rules are looked at --------------------------------------------------------------


def entered(r: TenantRouter, rec: InteractionRecord) -> None:
    """`rec` has just entered its queue (and is indexed): look at the rules now, and ask
    for the timed ones (WAITED, maximum wait) to be looked at when they come due."""
    review(r, rec)
    if waiting(r, rec):
        schedule(r, rec)


def review(r: TenantRouter, rec: InteractionRecord, only: frozenset[When] | None = None) -> bool:
    """Look at the rules of `rec`'s queue now (those of the kinds in `only`, if given);
    re-route it if a rule changed how it is routed. Returns whether anything fired."""
    fired = False
    changed = False
    for _ in range(MAX_MOVES):
        queue = r.queues.get(rec.interaction.queue_id)
        if queue is None or not waiting(r, rec):
            break
        step = _pass(r, rec, queue, only)
        fired = fired or step.fired
        changed = changed or step.changed
        if not step.moved:
            break
        only = None  # work that entered a queue by a move is looked at as any entry is
    queue = r.queues.get(rec.interaction.queue_id)
    if queue is not None and _past_max_wait(r, rec, queue):
        end(r, rec, MAX_WAIT_DISPOSITION)
        return True
    if changed and waiting(r, rec):
        offers.route_interaction(r, rec)
    return fired


def _past_max_wait(r: TenantRouter, rec: InteractionRecord, queue: Queue) -> bool:
    limit = queue.max_wait_seconds
    return limit > 0 and waiting(r, rec) and r.clock() - rec.interaction.enqueued_at >= limit


def review_queue(r: TenantRouter, queue_id: str, only: frozenset[When] | None = None) -> None:
    """Look at the rules of every interaction waiting in one queue (its oldest first)."""
    recs = queues.waiting_in(r, queue_id)
    recs.sort(key=lambda x: (x.interaction.enqueued_at, x.arrival))
    for rec in recs:
        review(r, rec, only)


def after_load(r: TenantRouter) -> None:
    """What came due while the router was down: the clock-driven rules and the maximum
    wait of all waiting work."""
    for queue_id, queue in list(r.queues.items()):
        if has_work(queue):
            review_queue(r, queue_id, CLOCK_DRIVEN)


def agents_changed(r: TenantRouter) -> None:
    """An agent logged in or out, or its skills or profile changed: work in a queue with
    NO_AGENTS rules may have lost its last possible agent."""
    for queue_id, queue in list(r.queues.items()):
        if not any(rule.when == When.NO_AGENTS for rule in queue.overflow):
            continue
        served: dict[tuple[object, ...], bool] = {}  # work alike is looked at once
        for rec in queues.waiting_in(r, queue_id):
            i = rec.interaction
            key = (i.channel, i.required)
            if key not in served:
                served[key] = could_be_served(r, rec, queue_id)
            if not served[key]:
                review(r, rec)


def schedule(r: TenantRouter, rec: InteractionRecord) -> None:
    """Timers for the timed rules of `rec`'s queue that have not fired, and its maximum
    wait (a due time already past fires at once)."""
    queue = r.queues.get(rec.interaction.queue_id)
    if queue is None:
        return
    start = rec.interaction.enqueued_at
    dues = {
        start + rule.threshold
        for rule in queue.overflow
        if rule.when in TIMED and tag(queue.id, rule.name) not in rec.rules_fired
    }
    if queue.max_wait_seconds > 0:
        dues.add(start + queue.max_wait_seconds)
    for due in dues:
        r.at(due, Due.RULES, rec.id)


def schedule_hours(r: TenantRouter, queue: Queue) -> None:
    """A timer for the next time the queue opens or closes, if it has CLOSED rules."""
    if queue.hours.always or not any(rule.when == When.CLOSED for rule in queue.overflow):
        return
    due = queue.hours.next_change(r.clock())
    if due is not None and r.hours_due.get(queue.id) != due:
        r.hours_due[queue.id] = due
        r.at(due, Due.HOURS, queue.id)


def hours_changed(r: TenantRouter, queue_id: str, due: float) -> None:
    """The queue opened or closed (its HOURS timer): look at its work, and ask again for
    the next change. A timer that is not the queue's next change (the queue was changed
    since) does nothing."""
    queue = r.queues.get(queue_id)
    if queue is None or r.hours_due.get(queue_id) != due:
        return
    del r.hours_due[queue_id]
    if not queue.hours.is_open(r.clock()):
        review_queue(r, queue_id, CLOCK_DRIVEN)
    schedule_hours(r, queue)


def queue_changed(r: TenantRouter, queue: Queue) -> None:
    """UpsertQueue changed the queue: its work is looked at under the new rules."""
    schedule_hours(r, queue)
    if has_work(queue):
        for rec in queues.waiting_in(r, queue.id):
            review(r, rec)
            if waiting(r, rec):
                schedule(r, rec)


# --- conditions -----------------------------------------------------------------------------


def holds(r: TenantRouter, rec: InteractionRecord, queue: Queue, rule: OverflowRule) -> bool:
    now = r.clock()
    when = rule.when
    if when == When.WAITED:
        return now - rec.interaction.enqueued_at >= rule.threshold
    if when == When.CLOSED:
        return not queue.hours.is_open(now)
    if when == When.SIZE:
        return len(queues.waiting_in(r, queue.id)) > rule.threshold
    if when == When.NO_AGENTS:
        return not could_be_served(r, rec, queue.id)
    if when == When.EXPECTED_WAIT:
        return queues.place_and_wait(r, rec)[1] > rule.threshold
    raise AssertionError(when)


def could_be_served(r: TenantRouter, rec: InteractionRecord, queue_id: str) -> bool:
    """Whether a logged-in agent could ever take `rec` in the queue: its profile has the
    queue, it has seats on the channel, and it holds every required skill at the level
    left after the policy's last relaxation step (availability, load and exclusions
    change; these do not until an agent changes)."""
    i = rec.interaction
    drop = sum(step.level_drop for step in r.policy.relaxation)
    needed = [(req.skill, max(1, req.min_level - drop)) for req in i.required]
    for arec in r.agents.values():
        agent = arec.agent
        if agent.state == AgentState.OFFLINE or not agent.serves(queue_id):
            continue
        if agent.capacity.get(i.channel, 0) <= 0:
            continue
        if all(agent.skills.get(skill, 0) >= level for skill, level in needed):
            return True
    return False


# --- one pass over a queue's rules -----------------------------------------------------------


class _Step:
    __slots__ = ("changed", "fired", "moved")

    def __init__(self) -> None:
        self.fired = self.moved = self.changed = False


def _pass(
    r: TenantRouter, rec: InteractionRecord, queue: Queue, only: frozenset[When] | None
) -> _Step:
    step = _Step()
    for rule in queue.overflow:
        name = tag(queue.id, rule.name)
        if name in rec.rules_fired or not waiting(r, rec):
            continue
        if only is not None and rule.when not in only:
            continue
        if not holds(r, rec, queue, rule) or not _applies(r, rec, rule):
            continue
        r.put(rec)
        rec.rules_fired = (*rec.rules_fired, name)
        r.event(rec, EventType.RULE_FIRED, rule=rule.name, queue_id=queue.id)
        step.fired = True
        if rule.then == Then.MOVE:
            move(r, rec, r.queues[rule.queue], rule.keep_place)
            step.moved = True
            return step
        if rule.then == Then.END:
            counting.overflowed(r, rec)
            end(r, rec, rule.disposition)
            return step
        _change_terms(r, rec, rule)
        step.changed = True
    return step


def _applies(r: TenantRouter, rec: InteractionRecord, rule: OverflowRule) -> bool:
    """Whether the action can be carried out: a move to a queue that exists and takes the
    channel, within the skills limit. A rule that cannot apply does not fire (it may when
    things change)."""
    if rule.then == Then.MOVE:
        target = r.queues.get(rule.queue)
        if target is None or not target.accepts(rec.interaction.channel):
            return False
        try:
            queues.move_terms(r, rec, target)
        except InvalidArgument:
            return False
    if rule.then == Then.ADD_SKILLS:
        return len(_added(rec.interaction.required, rule.skills)) <= MAX_SKILLS_PER_INTERACTION
    return True


def _added(
    own: tuple[SkillRequirement, ...], extra: Iterable[SkillRequirement]
) -> tuple[SkillRequirement, ...]:
    """`own` with `extra` added, a skill in both at the rule's level."""
    extra = tuple(extra)
    names = {req.skill for req in extra}
    return (*(req for req in own if req.skill not in names), *extra)


def _change_terms(r: TenantRouter, rec: InteractionRecord, rule: OverflowRule) -> None:
    i = rec.interaction
    if rule.then == Then.ADD_SKILLS:
        i.required = _added(i.required, rule.skills)
    elif rule.then == Then.DROP_SKILLS:
        names = {req.skill for req in rule.skills}
        i.required = tuple(req for req in i.required if req.skill not in names)
    elif rule.then == Then.RAISE_PRIORITY:
        i.priority = min(MAX_PRIORITY, i.priority + rule.priority)
    r.engine.remove(rec.id)
    offers.index_interaction(r, rec)


def move(r: TenantRouter, rec: InteractionRecord, target: Queue, keep_place: bool) -> None:
    """Into `target` on its terms (skills and priority as a transfer to a queue takes
    them), at its place by enqueue time or at the back; counted out of the source and in
    to the target; the target's rules are looked at next."""
    required, preferred, priority = queues.move_terms(r, rec, target)
    counting.overflowed(r, rec)
    i = rec.interaction
    r.engine.remove(rec.id)
    i.queue_id = target.id
    i.required, i.preferred, i.priority = required, preferred, priority
    r.event(rec, EventType.QUEUE_CHANGED, queue_id=target.id)
    if not keep_place:
        i.enqueued_at = r.clock()
        r.arrivals += 1
        rec.arrival = r.arrivals
    counting.moved_in(r, rec)
    offers.index_interaction(r, rec)
    r.track_queue(rec)
    schedule(r, rec)


def end(r: TenantRouter, rec: InteractionRecord, disposition: str) -> None:
    """Close waiting work for the caller's system to act on (CANCELLED, with the
    disposition); nobody holds it, so no agent is touched."""
    r.put(rec)
    i = rec.interaction
    r.engine.remove(rec.id)
    if disposition == MAX_WAIT_DISPOSITION:
        counting.overflowed(r, rec)
    i.state = InteractionState.CANCELLED
    rec.disposition = disposition
    rec.transfer = None
    r.event(rec, EventType.CANCELLED, reason=disposition)
