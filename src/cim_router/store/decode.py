"""Stored records back into the tenant's: one bad record is set aside, named by its key,
never the load of the rest."""

from __future__ import annotations

import logging

from cim_router.store import codec
from cim_router.tenant.ports import Snapshot
from cim_router.tenant.records import AgentRecord, InteractionRecord

log = logging.getLogger(__name__)


def counters_in(raw: dict[bytes, bytes]) -> dict[str, int]:
    out = {}
    for name, n in raw.items():
        try:
            out[name.decode()] = int(n)
        except ValueError:  # a counter that is not a number counts as nothing
            log.warning("counter is not a number; ignored")
    return out


def decode_agent(snap: Snapshot, field: str, value: bytes) -> None:
    try:
        arec: AgentRecord = codec.agent_in(value)
        if arec.agent.id != field:
            raise ValueError(f"record of agent {arec.agent.id!r} stored under {field!r}")
    except Exception as exc:
        snap.quarantined.append((f"agent:{field}", reason(exc)))
        return
    snap.agents.append(arec)


def decode_interaction(snap: Snapshot, tenant: str, interaction_id: str, value: bytes) -> None:
    try:
        rec = codec.interaction_in(value, tenant)
        if rec.id != interaction_id:
            raise ValueError(f"record of {rec.id!r} stored under {interaction_id!r}")
    except Exception as exc:
        snap.quarantined.append((f"interaction:{interaction_id}", reason(exc)))
        return
    snap.interactions.append(rec)


def interaction_or_none(data: bytes, tenant: str, interaction_id: str) -> InteractionRecord | None:
    try:
        rec = codec.interaction_in(data, tenant)
    except Exception as exc:
        log.warning(
            "undecodable interaction record read as missing",
            extra={"tenant": tenant, "interaction_id": interaction_id, "error": reason(exc)},
        )
        return None
    return rec if rec.id == interaction_id else None


def reason(exc: Exception) -> str:
    """What was wrong with a record, by exception type: never its content."""
    return type(exc).__name__


def decode_queue(snap: Snapshot, field: str, value: bytes) -> None:
    try:
        queue = codec.queue_in(field, value)
    except Exception as exc:
        snap.quarantined.append((f"queue:{field}", reason(exc)))
        return
    snap.queues.append(queue)


class WrongType(Exception):
    """Redis refused a read of a key holding another type: bad data, not an outage."""
