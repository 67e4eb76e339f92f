"""A tenant's queues: lookups and reads (get, list), each queue's status now, and where
an interaction stands in its queue. Changes to them are in tenant/queue_admin.py, the
overflow rules in tenant/overflow.py.

Every tenant has the queue "default" (every channel, no skills): work that names no queue
goes there. It may be changed, never removed.
"""

from __future__ import annotations

from dataclasses import dataclass

from cim_router.domain.agent import AgentState
from cim_router.domain.channel import Channel
from cim_router.domain.errors import ValidationError
from cim_router.domain.interaction import InteractionState, SkillRequirement
from cim_router.domain.limits import MAX_PRIORITY, MAX_SKILLS_PER_INTERACTION
from cim_router.domain.queues import Queue, check_queues
from cim_router.tenant.errors import (
    InvalidArgument,
    NotFound,
)
from cim_router.tenant.records import InteractionRecord
from cim_router.tenant.router import TenantRouter


@dataclass(frozen=True)
class QueueStatus:
    queue: Queue
    open: bool
    next_change: float | None
    waiting: int
    longest_wait_seconds: float
    agents_staffed: int
    agents_available: int
    estimated_wait_seconds: float


def find(r: TenantRouter, queue_id: str) -> Queue:
    found = r.queues.get(queue_id)
    if found is None:
        raise NotFound(f"queue {queue_id!r} not found")
    return found


def check_with(r: TenantRouter, queue: Queue) -> None:
    """The tenant's queues as they would be with `queue`, errors named under "queue": the
    others passed before, so whatever breaks now (a move to a queue that does not exist, a
    cycle of moves through it) is this queue's doing."""
    candidate = {**r.queues, queue.id: queue}
    try:
        check_queues(candidate, "queues")
    except ValidationError as exc:
        mine = f"queues.{queue.id}"
        if exc.field == mine or exc.field.startswith(mine + "."):
            raise ValidationError("queue" + exc.field[len(mine) :], exc.reason) from None
        raise ValidationError("queue.overflow", exc.reason) from None


@dataclass(frozen=True)
class Move:
    """Where a transfer sends an interaction: a queue ("" its own), keeping its place or
    to the back."""

    queue_id: str = ""
    to_back: bool = False


def move_terms(
    r: TenantRouter, rec: InteractionRecord, target: Queue
) -> tuple[tuple[SkillRequirement, ...], tuple[SkillRequirement, ...], int]:
    """The skills and priority of `rec` in `target`: what its old queue added is taken
    away (requirements equal to that queue's), what `target` adds is added, the
    interaction's own level winning for a skill in both."""
    i = rec.interaction
    old = r.queues.get(i.queue_id)
    if old is None or old.id == target.id:
        return i.required, i.preferred, i.priority
    out = []
    for name, own, was, extra in (
        ("required_skills", i.required, old.required, target.required),
        ("preferred_skills", i.preferred, old.preferred, target.preferred),
    ):
        kept = tuple(req for req in own if req not in was)
        have = {req.skill for req in kept}
        merged = (*kept, *(req for req in extra if req.skill not in have))
        if len(merged) > MAX_SKILLS_PER_INTERACTION:
            raise InvalidArgument(
                name,
                f"with queue {target.id!r}'s skills, more than {MAX_SKILLS_PER_INTERACTION} skills",
            )
        out.append(merged)
    priority = min(MAX_PRIORITY, max(0, i.priority - old.priority + target.priority))
    return out[0], out[1], priority


# --- reads ----------------------------------------------------------------------------------


async def get_queue(r: TenantRouter, queue_id: str) -> QueueStatus:
    r.check_available()
    out = status(r, find(r, queue_id))
    await r.read()
    return out


async def list_queues(r: TenantRouter) -> list[QueueStatus]:
    r.check_available()
    out = [status(r, r.queues[q]) for q in sorted(r.queues)]
    await r.read()
    return out


def waiting_in(r: TenantRouter, queue_id: str) -> list[InteractionRecord]:
    """The queue's interactions waiting to be offered."""
    engine = r.engine
    out = []
    for iid in r.in_queue.get(queue_id, ()):
        rec = r.open[iid]
        if rec.interaction.state == InteractionState.QUEUED and engine.is_waiting(iid):
            out.append(rec)
    return out


def serving_seats(r: TenantRouter, queue_id: str) -> dict[str, int]:
    """Agents logged in whose profile includes the queue, and those AVAILABLE."""
    staffed = available = 0
    for arec in r.agents.values():
        agent = arec.agent
        if agent.state == AgentState.OFFLINE or not agent.serves(queue_id):
            continue
        staffed += 1
        available += agent.state == AgentState.AVAILABLE
    return {"staffed": staffed, "available": available}


def status(r: TenantRouter, queue: Queue) -> QueueStatus:
    now = r.clock()
    waiting = waiting_in(r, queue.id)
    longest = max((now - rec.interaction.enqueued_at for rec in waiting), default=0.0)
    agents = serving_seats(r, queue.id)
    wait = 0.0
    if waiting:
        handle = sum(r.policy.handle_time_seconds[rec.interaction.channel] for rec in waiting)
        channels = {rec.interaction.channel for rec in waiting}
        seats = sum(queue_seats(r, queue.id, c) for c in channels)
        wait = handle / max(1, seats)
    return QueueStatus(
        queue=queue,
        open=queue.hours.is_open(now),
        next_change=queue.hours.next_change(now),
        waiting=len(waiting),
        longest_wait_seconds=max(0.0, longest),
        agents_staffed=agents["staffed"],
        agents_available=agents["available"],
        estimated_wait_seconds=wait,
    )


def queue_seats(r: TenantRouter, queue_id: str, channel: Channel) -> int:
    """Seats on `channel` of logged-in agents who serve the queue."""
    if not any(a.agent.routing_profile for a in r.agents.values()):
        return r.seats.get(channel, 0)
    total = 0
    for arec in r.agents.values():
        agent = arec.agent
        if agent.state != AgentState.OFFLINE and agent.serves(queue_id):
            total += agent.capacity.get(channel, 0)
    return total


def position_in_queue(r: TenantRouter, rec: InteractionRecord) -> int:
    """1-based place among the waiting of its queue, in service order (the tenant's order
    when every live interaction is in that queue)."""
    now = r.clock()
    queue_id = rec.interaction.queue_id
    engine = r.engine
    if len(r.in_queue.get(queue_id, ())) == len(r.open):
        return engine.queue_position(rec.id, now)

    def key(x: InteractionRecord) -> tuple[float, float, int]:
        return (-engine.urgency(x.id, now), x.interaction.enqueued_at, x.arrival)

    mine = key(rec)
    return 1 + sum(1 for x in waiting_in(r, queue_id) if x.id != rec.id and key(x) < mine)


def place_and_wait(r: TenantRouter, rec: InteractionRecord) -> tuple[int, float]:
    """1-based place of waiting work in its queue and a rough wait estimate: its place
    times the channel's handle time, over the seats of the agents who serve the queue."""
    place = position_in_queue(r, rec)
    channel = rec.interaction.channel
    seats = queue_seats(r, rec.interaction.queue_id, channel)
    return place, place * r.policy.handle_time_seconds[channel] / max(1, seats)
