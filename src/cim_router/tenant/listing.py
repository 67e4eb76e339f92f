"""ListInteractions: a tenant's open interactions, filtered, in service order, paged."""

from __future__ import annotations

from dataclasses import dataclass

from cim_router.domain.channel import Channel
from cim_router.domain.interaction import InteractionState
from cim_router.tenant.queues import find
from cim_router.tenant.records import InteractionRecord
from cim_router.tenant.router import TenantRouter


@dataclass(frozen=True)
class Filter:
    queue_id: str = ""
    state: InteractionState | None = None
    channel: Channel | None = None
    customer_id: str = ""

    def keeps(self, rec: InteractionRecord) -> bool:
        i = rec.interaction
        return (
            (not self.queue_id or i.queue_id == self.queue_id)
            and (self.state is None or i.state == self.state)
            and (self.channel is None or i.channel == self.channel)
            and (not self.customer_id or i.customer_id == self.customer_id)
        )


def service_order(r: TenantRouter) -> list[InteractionRecord]:
    """Every open interaction: the waiting ones in the order they would be served, then
    the others (offered, assigned, in wrap-up) by enqueue time."""
    waiting = [r.open[i] for i in r.engine.queue_order(r.clock()) if i in r.open]
    seen = {rec.id for rec in waiting}
    rest = sorted(
        (rec for rec in r.open.values() if rec.id not in seen),
        key=lambda rec: (rec.interaction.enqueued_at, rec.arrival),
    )
    return waiting + rest


async def list_interactions(
    r: TenantRouter, where: Filter, offset: int, limit: int
) -> tuple[list[InteractionRecord], bool]:
    """Up to `limit` matching interactions from `offset` on in service order, and whether
    more follow. The order moves as work is served: a page token is a place in it."""
    r.check_available()
    if where.queue_id:
        find(r, where.queue_id)
    found = [rec for rec in service_order(r) if where.keeps(rec)]
    page = [rec.snapshot() for rec in found[offset : offset + limit]]
    more = len(found) > offset + limit
    await r.read()
    return page, more
