"""ForgetCustomer: erase one customer of a tenant on request.

Every interaction of theirs that is kept (open ones too: they keep routing) loses its
context and its customer id, its link to their other interactions, its request digest and
its feedback (comment and fields; the CSAT score stays, for the counts);
the records stay, anonymous, so counts still add up. The customer's record and index go,
and so do the history of those interactions and the event stream's entries naming them.
One unit of work: the store erases what the transition's `Erasure` names atomically with
the anonymous records. A second call finds nothing and erases nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass

from cim_router.tenant.records import Erasure, InteractionRecord
from cim_router.tenant.router import TenantRouter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Forgotten:
    """What a ForgetCustomer erased."""

    customer_id: str
    interaction_ids: tuple[str, ...] = ()
    history_events: int = 0  # as counted just before the change
    stream_events: int = 0  # likewise
    index_erased: bool = False  # whether the customer record or index held an entry


async def forget_customer(r: TenantRouter, customer_id: str) -> Forgotten:
    r.check_available()
    await r.read()  # the store holds everything this tenant wrote: the reads below see it
    footprint = await r.store.read_customer(r.tenant, customer_id)
    in_memory = [*r.open.values(), *r.closed.values()]
    candidates = set(footprint.interaction_ids)
    candidates.update(rec.id for rec in in_memory if rec.interaction.customer_id == customer_id)
    # Read together: the store groups concurrent point reads into one round trip.
    missing = sorted(i for i in candidates if i not in r.open and i not in r.closed)
    found = await asyncio.gather(*(r.store.read_interaction(r.tenant, i) for i in missing))
    stored: dict[str, InteractionRecord | None] = dict(zip(missing, found, strict=True))
    # An id the index lists may have expired and been used again by someone else: theirs.
    ids = tuple(sorted(i for i in candidates if _theirs(_find(r, stored, i), customer_id)))
    erasable = await r.store.read_erasable(r.tenant, ids)

    def apply() -> Forgotten:
        known = footprint.known or customer_id in r.customers
        records = [rec for i in ids if (rec := _find(r, stored, i)) is not None]
        scanned_to = erasable.scanned_to
        # An interaction of theirs enqueued since the reads: erased too, and the commit
        # then scans the whole stream, as the scan above did not look for it.
        late = [
            rec
            for rec in (*r.open.values(), *r.closed.values())
            if rec.interaction.customer_id == customer_id and rec.id not in ids
        ]
        if late:
            records.extend(late)
            scanned_to = ""
        erased = tuple(sorted({*ids, *(rec.id for rec in late)}))
        for rec in records:
            if rec.interaction.customer_id != customer_id:
                continue  # written since the reads by someone else (an id used again)
            r.put(rec)
            i = rec.interaction
            i.customer_id, i.context = "", {}
            rec.linked_interaction_id, rec.request_digest = "", b""
            if rec.callback is not None:  # the number to call is theirs too
                rec.callback = dataclasses.replace(rec.callback, address="")
            rec.feedback_comment, rec.feedback_fields = "", {}
        r.customers.pop(customer_id, None)
        if known or erased:
            entries = erasable.stream_entries
            r.tx.erasures.append(Erasure(customer_id, erased, entries, scanned_to))
        return Forgotten(
            customer_id, erased, erasable.history_events, len(erasable.stream_entries), known
        )

    done = await r.mutate(apply)
    # Counts only: the customer id is what was to be forgotten.
    log.info(
        "customer forgotten: %d interactions, %d stream entries",
        len(done.interaction_ids),
        done.stream_events,
        extra={"tenant": r.tenant},
    )
    return done


def _find(
    r: TenantRouter, stored: dict[str, InteractionRecord | None], iid: str
) -> InteractionRecord | None:
    return r.open.get(iid) or r.closed.get(iid) or stored.get(iid)


def _theirs(rec: InteractionRecord | None, customer_id: str) -> bool:
    """Whether `rec` is the customer's, or expired (None: its leftovers are erased). The
    index never lists one already forgotten: a forget deletes the index with its change."""
    return rec is None or rec.interaction.customer_id == customer_id
