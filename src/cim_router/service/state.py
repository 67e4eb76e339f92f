"""What the service needs from durable storage: the `Store` interface.

The service keeps each tenant's live state in memory and is its only writer; the store is
the truth it is rebuilt from. A change is `submit`ted as one `Transition` (written
atomically, in submission order, possibly together with other RPCs' changes) and an RPC
answers only once `durable` says it is stored. If a write fails, every change not yet
durable is lost: the store says so (`on_lost`) and the service reloads from it before it
serves again (`on_recovered`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from cim_router.service.records import (
    AgentRecord,
    CustomerRecord,
    Event,
    InteractionRecord,
    Transition,
)


@dataclass
class Snapshot:
    """One tenant's state as stored: what a (re)start rebuilds from."""

    agents: list[AgentRecord] = field(default_factory=list)
    interactions: list[InteractionRecord] = field(default_factory=list)  # the open ones
    counters: dict[str, int] = field(default_factory=dict)


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


class Store(Protocol):
    metrics: StoreMetrics

    @property
    def healthy(self) -> bool:
        """False while the store is unreachable (writes fail at once)."""

    def listen(self, listener: StoreListener) -> None: ...

    async def start(self) -> None:
        """Connect, and become the one server allowed to write."""

    async def close(self) -> None: ...

    async def tenants(self) -> list[str]: ...

    async def add_tenant(self, tenant: str) -> None: ...

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
        """A stored interaction (the closed ones are only here)."""

    async def read_history(self, tenant: str, interaction_id: str) -> list[Event]: ...

    async def read_existing(
        self, tenant: str, interaction_id: str, customer_id: str
    ) -> tuple[InteractionRecord | None, CustomerRecord | None]:
        """An interaction stored under the id, and the customer's record (if a customer id
        is given), read together."""
