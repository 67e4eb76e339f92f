"""The audit trail of admin actions: one Redis stream per tenant (and one for operators'
actions that name no tenant), written by the server and by the operator CLI alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cim_router.store.keys import Keys

AUDIT_MAXLEN = 100_000  # about; the stream is trimmed past it


@dataclass(frozen=True)
class AuditEntry:
    time_ms: int  # from the stream entry's id
    caller: str  # a key id or a certificate subject, never a key
    action: str  # an RPC name, or a CLI action such as "keys.create"
    target: str  # an agent id, a key id, a tenant id
    outcome: str  # "ok", or the status code name of a refusal
    entry_id: str = ""


def audit_key(keys: Keys, tenant: str | None) -> str:
    return keys.operator_audit() if tenant is None else keys.audit(tenant)


async def append_audit(
    redis: Any,
    keys: Keys,
    tenant: str | None,
    *,
    caller: str,
    action: str,
    target: str,
    outcome: str = "ok",
) -> str:
    """Append one entry; `tenant` None for an operator's action that names no tenant."""
    fields = {"caller": caller, "action": action, "target": target, "outcome": outcome}
    entry_id = await redis.xadd(
        audit_key(keys, tenant), fields, maxlen=AUDIT_MAXLEN, approximate=True
    )
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


async def read_audit(
    redis: Any, keys: Keys, tenant: str | None, *, count: int, before: str = "+"
) -> list[AuditEntry]:
    """Up to `count` entries, newest first, older than `before` (an entry id; "+" is the
    newest). The next page starts before the last entry's id ("(" + id)."""
    rows = await redis.xrevrange(audit_key(keys, tenant), max=before, min="-", count=count)
    return [_entry(entry_id, fields) for entry_id, fields in rows]


def _entry(entry_id: Any, fields: dict[Any, Any]) -> AuditEntry:
    ident = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    text = {_s(k): _s(v) for k, v in fields.items()}
    return AuditEntry(
        time_ms=int(ident.split("-", 1)[0]),
        caller=text.get("caller", ""),
        action=text.get("action", ""),
        target=text.get("target", ""),
        outcome=text.get("outcome", ""),
        entry_id=ident,
    )


def _s(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
