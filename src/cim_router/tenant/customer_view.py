"""GetCustomer: one customer's interactions across channels, newest first, paged, with
their open ones, their last agent and totals, served from the customer index (the store
reads the interactions it lists by id: no scan of the tenant).

The index lists every interaction enqueued with the customer's id (within the retention);
a forgotten customer (ForgetCustomer) has no index, no record and no interaction left under
their id, so is not found. Totals count what is kept: contacts, those counted as repeat
contacts at their enqueue (the measures' definition, docs/measures.md), CSAT scores.
"""

from __future__ import annotations

from dataclasses import dataclass

from cim_router.tenant.errors import NotFound
from cim_router.tenant.records import InteractionRecord
from cim_router.tenant.router import LIVE, TenantRouter

SortKey = tuple[float, str]  # (enqueued_at, interaction id): the listing is by it, descending


@dataclass(frozen=True)
class CustomerTotals:
    contacts: int = 0
    repeat_contacts: int = 0
    csat_count: int = 0
    csat_sum: int = 0

    @property
    def csat_mean(self) -> float | None:
        return self.csat_sum / self.csat_count if self.csat_count else None


@dataclass(frozen=True)
class CustomerPage:
    customer_id: str
    interactions: tuple[InteractionRecord, ...]  # this page, newest first
    more: bool  # whether interactions older than this page's last are left
    open: tuple[InteractionRecord, ...]  # every open one, newest first
    last_agent_id: str
    last_interaction_id: str
    totals: CustomerTotals


def sort_key(rec: InteractionRecord) -> SortKey:
    return (rec.interaction.enqueued_at, rec.id)


async def get_customer(
    r: TenantRouter, customer_id: str, after: SortKey | None, size: int
) -> CustomerPage:
    """The page of the customer's interactions older than `after` (None: the newest)."""
    await r.read()  # the store holds everything this tenant wrote: the read below sees it
    view = await r.store.read_customer_view(r.tenant, customer_id)
    found: dict[str, InteractionRecord] = {}
    for rec in view.interactions:
        # The live record if it is in memory: changed since the read, perhaps.
        live = r.open.get(rec.id) or r.closed.get(rec.id) or rec
        if live.interaction.customer_id == customer_id:
            found[rec.id] = live
    record = r.customers.get(customer_id, view.record)
    if not found and record is None:
        raise NotFound(f"customer {customer_id!r} not found")
    ordered = sorted(found.values(), key=sort_key, reverse=True)
    rest = ordered if after is None else [rec for rec in ordered if sort_key(rec) < after]
    scores = [rec.csat for rec in ordered if rec.csat]
    totals = CustomerTotals(
        contacts=len(ordered),
        repeat_contacts=sum(1 for rec in ordered if rec.repeat),
        csat_count=len(scores),
        csat_sum=sum(scores),
    )
    return CustomerPage(
        customer_id,
        tuple(rec.snapshot() for rec in rest[:size]),
        len(rest) > size,
        tuple(rec.snapshot() for rec in ordered if rec.interaction.state in LIVE),
        record.last_agent_id if record is not None else "",
        record.last_interaction_id if record is not None else (ordered[0].id if ordered else ""),
        totals,
    )
