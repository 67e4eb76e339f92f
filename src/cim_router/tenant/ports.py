"""What the service needs from durable storage: the `Store` interface.

The service keeps each tenant's live state in memory and is its only writer; the store is
the truth it is rebuilt from. A change is `submit`ted as one `Transition` (written
atomically, in submission order, possibly together with other RPCs' changes) and an RPC
answers only once `durable` says it is stored. If a write fails, every change not yet
durable is lost: the store says so (`on_lost`) and the service reloads from it before it
serves again (`on_recovered`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol

from cim_router.domain.queues import Queue
from cim_router.tenant.records import (
    AgentRecord,
    CustomerRecord,
    Event,
    InteractionRecord,
    RequestOutcome,
    Transition,
)


@dataclass
class Snapshot:
    """One tenant's state as stored: what a (re)start rebuilds from."""

    agents: list[AgentRecord] = field(default_factory=list)
    interactions: list[InteractionRecord] = field(default_factory=list)  # the open ones
    counters: dict[str, int] = field(default_factory=dict)
    queues: list[Queue] = field(default_factory=list)  # the stored ones
    known: bool = False  # the tenant is in the store's tenant set
    # Records that could not be decoded: (key, e.g. "interaction:chat-7", reason). They stay
    # in the store, untouched, and the rest of the tenant loads.
    quarantined: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class CustomerFootprint:
    """What the store holds under a customer's id: whether a customer record (or index) is
    there, and the interactions the customer index lists."""

    known: bool = False
    interaction_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Erasable:
    """What forgetting some interactions would erase, as found now: their history events,
    and the ids of the event stream's entries naming them (scanned up to `scanned_to`)."""

    history_events: int = 0
    stream_entries: tuple[str, ...] = ()
    scanned_to: str = ""


@dataclass(frozen=True)
class StreamEntry:
    """One entry of a tenant's event stream: its id (tenant/stream_ids.py) and event."""

    id: str
    event: Event


@dataclass(frozen=True)
class StreamPage:
    """Entries of the event stream after an id, oldest first; `size` entries were read and
    `scanned_to` is the id of the last ("" if none): an undecodable one is left out of
    `entries` but read past. `first_id` and `last_id` are the stream's oldest and newest
    entries' ids as it is now ("" for an empty stream)."""

    entries: tuple[StreamEntry, ...] = ()
    scanned_to: str = ""
    first_id: str = ""
    last_id: str = ""
    size: int = 0


@dataclass(frozen=True)
class CustomerView:
    """What the customer index leads to: the customer's record (last interaction and
    agent) and the stored interactions the index lists that are still theirs."""

    record: CustomerRecord | None = None
    interactions: tuple[InteractionRecord, ...] = ()


class StoreMetrics(Protocol):
    """Where a store reports its round trips and failures, by operation."""

    def redis_roundtrip(self, op: str, seconds: float) -> None: ...

    def redis_error(self, op: str) -> None: ...


class _NoMetrics:
    def redis_roundtrip(self, op: str, seconds: float) -> None:
        return None

    def redis_error(self, op: str) -> None:
        return None


NO_METRICS: StoreMetrics = _NoMetrics()


class StoreListener(Protocol):
    def on_durable(self, seq: int) -> None:
        """Every submission up to `seq` is stored."""

    def on_lost(self) -> None:
        """Submissions not yet durable are lost; in-memory state must not be used."""

    def on_recovered(self) -> None:
        """The store answers again; reload before serving."""

    def on_fenced(self) -> None:
        """Another server has taken over the store: this one must stop serving for good."""


class Store(Protocol):
    metrics: StoreMetrics

    @property
    def healthy(self) -> bool:
        """False while the store is unreachable (writes fail at once)."""

    @property
    def fenced(self) -> bool:
        """True once another server has taken over: nothing is read or written again."""

    def listen(self, listener: StoreListener) -> None: ...

    async def start(self) -> None:
        """Connect, and become the one server allowed to write."""

    async def close(self) -> None: ...

    async def tenants(self) -> list[str]:
        """Every tenant that has written anything (a transition with `new_tenant`)."""

    async def load(self, tenant: str) -> Snapshot: ...

    def submit(self, tenant: str, t: Transition, create: str = "") -> int:
        """Queue `t` for writing, encoded now; returns its sequence number. `create` names
        an interaction that must not exist yet."""

    @property
    def submitted(self) -> int:
        """The sequence number of the latest submission."""

    async def durable(self, seq: int) -> None:
        """Return once submission `seq` is stored; raise `Unavailable` if it was lost."""

    async def read_interaction(self, tenant: str, interaction_id: str) -> InteractionRecord | None:
        """A stored interaction (the closed ones are only here); None if there is none or
        it cannot be decoded."""

    async def read_history(self, tenant: str, interaction_id: str) -> list[Event]:
        """The interaction's events, oldest first; an undecodable event is left out."""

    async def read_request(self, tenant: str, request_id: str) -> RequestOutcome | None:
        """The outcome stored with the change a call with this request id made, if any."""

    async def read_existing(
        self, tenant: str, interaction_id: str, customer_id: str
    ) -> tuple[InteractionRecord | None, CustomerRecord | None]:
        """An interaction stored under the id, and the customer's record (if a customer id
        is given), read together."""

    async def read_customer(self, tenant: str, customer_id: str) -> CustomerFootprint:
        """The customer's record and index: what ForgetCustomer starts from."""

    async def read_erasable(self, tenant: str, interaction_ids: Collection[str]) -> Erasable:
        """The history events of these interactions and the event stream's entries naming
        them (a scan of the whole stream, which is trimmed, so bounded)."""

    async def read_events(self, tenant: str, after: str, count: int) -> StreamPage:
        """Up to `count` entries of the tenant's event stream with ids after `after`
        (stream_ids.START for the first kept), oldest first, and where the stream starts
        and ends now."""

    async def read_customer_view(self, tenant: str, customer_id: str) -> CustomerView:
        """The customer's record and the interactions their index lists (read by id, no
        scan), those expired or now another customer's left out."""

    async def read_tallies(self, tenant: str, first: int, last: int) -> dict[int, dict[str, float]]:
        """The measures' tallies of minute buckets `first`..`last` (tenant/tallies.py):
        bucket -> field name -> count, buckets with nothing left out."""


class Observer(Protocol):
    """What the router reports to metrics."""

    def transition(self, tenant: str, t: Transition, now: float) -> None: ...

    def decision(self, seconds: float) -> None: ...
