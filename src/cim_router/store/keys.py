"""The Redis key schema: every key the store reads or writes, in one place.

Every key starts with the prefix (`cim` by default) and, but for the global keys, holds
the tenant in braces, so that one tenant's keys share a Redis Cluster hash slot. The tenant
is percent-encoded there, which keeps `:`, `{` and `}` out of it and so keeps keys of
different tenants apart; ids are always the last segment and are kept as they are, but
for customer ids: those never appear in a key name. A customer's keys are named by a keyed
hash (HMAC-SHA256 under the deployment's customer key secret) of tenant and customer id.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote

MIN_SECRET_BYTES = 16


class Keys:
    """Key names under one prefix; customer keys need `customer_secret` set."""

    def __init__(self, prefix: str = "cim", customer_secret: bytes = b"") -> None:
        self.prefix = prefix
        self.customer_secret = customer_secret
        self._tenants: dict[str, str] = {}  # tenant -> its key segment, computed once

    # --- global -------------------------------------------------------------------------

    def epoch(self) -> str:
        """STRING, no TTL: the epoch of the one server allowed to write (INCR at start);
        a write from a server holding an older epoch is refused (fencing)."""
        return f"{self.prefix}:epoch"

    def tenants(self) -> str:
        """SET, no TTL: every tenant that has written anything."""
        return f"{self.prefix}:tenants"

    def customer_secret_key(self) -> str:
        """STRING, no TTL: the customer key secret, kept here only when the server was given
        none and runs on a Redis of someone else's (see docs/security.md)."""
        return f"{self.prefix}:customer-key"

    def api_keys(self) -> str:
        """HASH key id -> API key record (JSON: tenant, role, agent id, name, created_at,
        revoked_at, quotas, and the SHA-256 of the secret, never the secret), no TTL."""
        return f"{self.prefix}:apikeys"

    def provisioned(self) -> str:
        """HASH tenant -> its creation record (JSON: created_at), no TTL: the tenants
        created by CreateTenant, the only ones that take requests with authentication on."""
        return f"{self.prefix}:provisioned"

    def operator_audit(self) -> str:
        """STREAM of the admin actions of operators' keys (bound to every tenant) that name no
        one tenant, as `audit` below."""
        return f"{self.prefix}:audit"

    # --- per tenant -----------------------------------------------------------------------

    def _t(self, tenant: str) -> str:
        found = self._tenants.get(tenant)
        if found is None:
            found = f"{self.prefix}:{{{quote(tenant, safe='')}}}"
            if len(self._tenants) < 10_000:
                self._tenants[tenant] = found
        return found

    def tenant_pattern(self, tenant: str) -> str:
        """A SCAN pattern matching every key of the tenant (and no other tenant's)."""
        return f"{_glob_escape(self._t(tenant))}:*"

    def agents(self, tenant: str) -> str:
        """HASH agent id -> agent record (JSON), no TTL; removed agents are deleted."""
        return f"{self._t(tenant)}:agents"

    def queues(self, tenant: str) -> str:
        """HASH queue id -> queue record (JSON, the policy file's table shape), no TTL;
        removed queues are deleted. The queue "default" is here only once changed."""
        return f"{self._t(tenant)}:queues"

    def open(self, tenant: str) -> str:
        """SET of the ids of open interactions (QUEUED, OFFERED, ASSIGNED, WRAP_UP), no TTL:
        what a restart loads."""
        return f"{self._t(tenant)}:open"

    def interaction(self, tenant: str, interaction_id: str) -> str:
        """STRING, the interaction record (compact.py's encoding, or JSON as versions before
        it wrote); no TTL while open, the retention once COMPLETED or CANCELLED. In the
        compact encoding a closed one's record holds its history too (version 2): the
        commit that closes it (or writes it again) moves the history list into it."""
        return f"{self._t(tenant)}:ix:{interaction_id}"

    def history(self, tenant: str, interaction_id: str) -> str:
        """LIST of the interaction's events (compact.py's encoding, or JSON), oldest first,
        the newest `history_max` kept. While it is open: no TTL. Once closed, in the compact
        encoding, the list is folded into the record and deleted; an event after that
        (feedback) starts a new list, which takes the record's TTL, and is read after the
        folded ones. JSON records keep the list, TTL as its record."""
        return f"{self._t(tenant)}:hist:{interaction_id}"

    def customer_hash(self, tenant: str, customer_id: str) -> str:
        """The name a customer goes by in key names: HMAC-SHA256 of tenant and id, hex."""
        if len(self.customer_secret) < MIN_SECRET_BYTES:
            raise RuntimeError("the customer key secret is not set")
        message = tenant.encode() + b"\x00" + customer_id.encode()
        return hmac.new(self.customer_secret, message, hashlib.sha256).hexdigest()

    def customer_fields(self, tenant: str, customer_id: str) -> str:
        """HASH, the customer's record and index in one key (compact records): field "" the
        customer's last interaction and last agent (compact.py's encoding), and one field
        per id of their interactions (added at each customer write and when one closes;
        value empty), what ForgetCustomer erases. Ids are never empty, so never "". TTL the
        retention, renewed at each write. Named by the customer's hash, never their id.
        Kept small, it stays a listpack (`hash-max-listpack-entries`, 128 by default, and
        `hash-max-listpack-value`, 64 bytes: the record is about 30, ids up to 128)."""
        return f"{self._t(tenant)}:cus:{self.customer_hash(tenant, customer_id)}"

    def customer(self, tenant: str, customer_id: str) -> str:
        """STRING, the customer's last interaction and last agent (compact or JSON): written
        with JSON records only, and by versions before `customer_fields`; read when that
        has no record. TTL the retention, renewed at each write. Named by the customer's
        hash."""
        return f"{self._t(tenant)}:cu:{self.customer_hash(tenant, customer_id)}"

    def customer_interactions(self, tenant: str, customer_id: str) -> str:
        """SET of the ids of the customer's interactions, as `customer` (JSON records, and
        versions before): read with `customer_fields`'s ids, both erased by ForgetCustomer;
        TTL the retention, renewed at each write. Named by the customer's hash."""
        return f"{self._t(tenant)}:cuix:{self.customer_hash(tenant, customer_id)}"

    def legacy_customer(self, tenant: str, customer_id: str) -> str:
        """STRING, a customer record as versions before hashed key names wrote it (the id in
        the name): never written, only deleted by ForgetCustomer; it expires by its TTL."""
        return f"{self._t(tenant)}:cust:{customer_id}"

    def counters(self, tenant: str) -> str:
        """HASH counter name -> integer (offered, answered, ...), no TTL."""
        return f"{self._t(tenant)}:counters"

    def tallies(self, tenant: str, bucket: int) -> str:
        """HASH "queue|channel|name" -> count (integer, or float for seconds) of one minute
        (`bucket`, minutes since the epoch), for the measures; TTL two days from its last
        write."""
        return f"{self.tallies_start(tenant)}{bucket}"

    def tallies_start(self, tenant: str) -> str:
        """What every tally bucket's key starts with: the key is this and the bucket."""
        return f"{self._t(tenant)}:tally:"

    def quarantine(self, tenant: str) -> str:
        """SET of the records a load could not decode or index ("interaction:ID",
        "agent:ID"), no TTL; the records themselves stay where they are, untouched."""
        return f"{self._t(tenant)}:quarantine"

    def request(self, tenant: str, request_id: str) -> str:
        """STRING, the outcome of a call made with this request id (JSON), written with its
        change; TTL the request-id retention."""
        return f"{self._t(tenant)}:req:{request_id}"

    def events(self, tenant: str) -> str:
        """STREAM of every routing event (field `e`, JSON), trimmed to about the configured
        length, for dashboards and audit."""
        return f"{self._t(tenant)}:events"

    def audit(self, tenant: str) -> str:
        """STREAM of the tenant's admin actions (keys, tenants, agents, policy): fields
        `caller`, `action`, `target`, `outcome`; the entry id is its time. Trimmed to about
        the configured length; never holds a key, a context value or a free-text reason."""
        return f"{self._t(tenant)}:audit"


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
