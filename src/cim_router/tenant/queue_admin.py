"""Changes to a tenant's queues: upsert (checked with the others: moves to queues that
exist, no trapped cycle) and remove (refused while work is in it or a rule moves work to
it). A changed queue's waiting work is looked at under its new rules."""

from __future__ import annotations

from cim_router.domain.queues import DEFAULT_QUEUE, MAX_QUEUES, Queue, Then
from cim_router.tenant import overflow
from cim_router.tenant.errors import FailedPrecondition, ResourceExhausted
from cim_router.tenant.queues import QueueStatus, check_with, find, status
from cim_router.tenant.records import RequestKey, RequestOutcome
from cim_router.tenant.router import OPEN, TenantRouter


async def upsert_queue(
    r: TenantRouter, queue: Queue, request: RequestKey | None = None
) -> QueueStatus:
    def apply() -> QueueStatus:
        check_with(r, queue)
        if queue.id not in r.queues and len(r.queues) >= MAX_QUEUES:
            raise ResourceExhausted(f"a tenant holds at most {MAX_QUEUES} queues")
        r.put_queue(queue)
        overflow.queue_changed(r, queue)
        return status(r, queue)

    async def replay(outcome: RequestOutcome) -> QueueStatus:
        return status(r, find(r, outcome.entity))

    return await r.mutate(apply, request, replay, queue.id)


async def remove_queue(r: TenantRouter, queue_id: str, request: RequestKey | None = None) -> None:
    def apply() -> None:
        find(r, queue_id)
        if queue_id == DEFAULT_QUEUE:
            raise FailedPrecondition("queue 'default' cannot be removed")
        if any(r.open[i].interaction.state in OPEN for i in r.in_queue.get(queue_id, ())):
            raise FailedPrecondition(f"queue {queue_id!r} holds open interactions")
        for other in r.queues.values():
            if other.id != queue_id and any(
                rule.then == Then.MOVE and rule.queue == queue_id for rule in other.overflow
            ):
                raise FailedPrecondition(
                    f"queue {queue_id!r} is where a rule of queue {other.id!r} moves work"
                )
        r.remove_queue_record(queue_id)

    async def replay(outcome: RequestOutcome) -> None:
        return None

    await r.mutate(apply, request, replay, queue_id)
