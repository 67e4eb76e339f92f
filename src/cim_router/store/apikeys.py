"""API keys: high-entropy bearer tokens `cimk_<id>_<secret>`, stored only as the SHA-256 of
the secret (with at least 32 random bytes, a fast hash is as good as a slow one), each bound
to a tenant (or every tenant, "*"), a role and, for an agent key, an agent id.

One global Redis HASH (`Keys.api_keys`) maps a key's id to its record; the server and the
operator CLI both read and write it, so a key created or revoked by the CLI takes effect on
a running server (which caches a lookup for at most a second)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import asdict, dataclass, replace
from typing import Any

from cim_router.store.keys import Keys

PREFIX = "cimk_"
ID_BYTES = 8  # the id: 16 hex digits, no "_" in it
SECRET_BYTES = 32  # the secret: 43 urlsafe base64 characters
_TOKEN = re.compile(r"cimk_([0-9a-f]{16})_([A-Za-z0-9_-]{43,128})")

# Default quotas of a new key; 0 means no cap.
DEFAULT_RATE = 1000.0  # requests per second, refilled continuously
DEFAULT_BURST = 2000  # requests at once, the bucket's size
DEFAULT_MAX_WATCH_STREAMS = 100  # open WatchAssignments streams
DEFAULT_MAX_WAITING_ASSIGNS = 100  # Assign(wait) calls in flight


@dataclass(frozen=True)
class Quotas:
    rate: float = DEFAULT_RATE
    burst: int = DEFAULT_BURST
    max_watch_streams: int = DEFAULT_MAX_WATCH_STREAMS
    max_waiting_assigns: int = DEFAULT_MAX_WAITING_ASSIGNS


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    tenant: str  # a tenant id, or "*" for every tenant (an operator's key)
    role: str  # admin, router, agent, viewer
    secret_hash: str  # hex SHA-256 of the secret
    created_at: float
    agent_id: str = ""  # for role agent: the one agent it acts for
    name: str = ""
    revoked_at: float | None = None
    quotas: Quotas = Quotas()

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def matches(self, secret: str) -> bool:
        """Whether `secret` is this key's, compared in constant time."""
        return hmac.compare_digest(hash_secret(secret), self.secret_hash)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_token(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed token, None otherwise."""
    found = _TOKEN.fullmatch(token)
    return None if found is None else (found.group(1), found.group(2))


def new_key(
    tenant: str,
    role: str,
    *,
    now: float,
    agent_id: str = "",
    name: str = "",
    quotas: Quotas | None = None,
) -> tuple[ApiKey, str]:
    """A new key's record and its token (shown once, never stored)."""
    key_id = secrets.token_hex(ID_BYTES)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    record = ApiKey(
        key_id=key_id,
        tenant=tenant,
        role=role,
        secret_hash=hash_secret(secret),
        created_at=now,
        agent_id=agent_id,
        name=name,
        quotas=quotas or Quotas(),
    )
    return record, f"{PREFIX}{key_id}_{secret}"


def encode_key(record: ApiKey) -> str:
    return json.dumps(asdict(record), separators=(",", ":"), sort_keys=True)


def decode_key(raw: bytes | str) -> ApiKey | None:
    """A stored record, None if it does not decode (such a key authenticates nobody)."""
    try:
        data: dict[str, Any] = json.loads(raw)
        quotas = Quotas(**data.pop("quotas", {}))
        return ApiKey(**data, quotas=quotas)
    except (ValueError, TypeError):
        return None


async def save_key(redis: Any, keys: Keys, record: ApiKey) -> bool:
    """Store a new key; False if its id is taken (then nothing is written)."""
    return bool(await redis.hsetnx(keys.api_keys(), record.key_id, encode_key(record)))


async def read_key(redis: Any, keys: Keys, key_id: str) -> ApiKey | None:
    raw = await redis.hget(keys.api_keys(), key_id)
    return None if raw is None else decode_key(raw)


async def list_keys(redis: Any, keys: Keys) -> list[ApiKey]:
    """Every stored key that decodes, by tenant, then creation time."""
    rows = await redis.hgetall(keys.api_keys())
    found = [k for k in map(decode_key, rows.values()) if k is not None]
    return sorted(found, key=lambda k: (k.tenant, k.created_at, k.key_id))


async def revoke_key(redis: Any, keys: Keys, key_id: str, now: float) -> ApiKey | None:
    """Mark a key revoked (kept, for the record); None if there is no such key. Revoking a
    revoked key keeps its first revocation time."""
    record = await read_key(redis, keys, key_id)
    if record is None:
        return None
    if not record.revoked:
        record = replace(record, revoked_at=now)
        await redis.hset(keys.api_keys(), key_id, encode_key(record))
    return record


async def delete_tenant_keys(redis: Any, keys: Keys, tenant: str) -> list[str]:
    """Delete every key bound to `tenant` (operators' keys stay); their ids."""
    gone = [k.key_id for k in await list_keys(redis, keys) if k.tenant == tenant]
    if gone:
        await redis.hdel(keys.api_keys(), *gone)
    return gone
