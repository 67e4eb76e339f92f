"""Where the service's state lives: the `StateStore` interface and its in-memory form.

Every write is one `Transition` applied atomically, which a Redis store does in one
MULTI/EXEC (or a Lua script when it must check first); `create_interaction` is the only
check-and-set. Readers get copies: changing a returned record changes nothing stored.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Protocol

from cim_router.domain.interaction import InteractionState
from cim_router.service.records import (
    AgentRecord,
    CustomerRecord,
    Event,
    InteractionRecord,
    Transition,
)


class StateStore(Protocol):
    """The truth about every tenant's agents, interactions, histories and counters."""

    async def get_agent(self, tenant: str, agent_id: str) -> AgentRecord | None: ...

    async def list_agents(self, tenant: str) -> list[AgentRecord]: ...

    async def get_interaction(
        self, tenant: str, interaction_id: str
    ) -> InteractionRecord | None: ...

    async def list_interactions(
        self, tenant: str, states: Iterable[InteractionState]
    ) -> list[InteractionRecord]: ...

    async def history(self, tenant: str, interaction_id: str) -> list[Event]: ...

    async def get_customer(self, tenant: str, customer_id: str) -> CustomerRecord | None: ...

    async def counters(self, tenant: str) -> dict[str, int]: ...

    async def tenants(self) -> list[str]: ...

    async def create_interaction(
        self, tenant: str, record: InteractionRecord, t: Transition
    ) -> bool:
        """Store a new interaction and apply `t` with it, unless the id exists (then False)."""
        ...

    async def apply(self, tenant: str, t: Transition) -> None: ...

    async def close(self) -> None: ...


class _Tenant:
    def __init__(self) -> None:
        self.agents: dict[str, AgentRecord] = {}
        self.interactions: dict[str, InteractionRecord] = {}
        self.history: dict[str, list[Event]] = {}
        self.customers: dict[str, CustomerRecord] = {}
        self.counters: dict[str, int] = {}


class MemoryStore:
    """A process-local store: state lasts as long as the process."""

    def __init__(self) -> None:
        self._tenants: dict[str, _Tenant] = {}

    def _t(self, tenant: str) -> _Tenant:
        found = self._tenants.get(tenant)
        if found is None:
            found = self._tenants[tenant] = _Tenant()
        return found

    async def get_agent(self, tenant: str, agent_id: str) -> AgentRecord | None:
        return copy.deepcopy(self._t(tenant).agents.get(agent_id))

    async def list_agents(self, tenant: str) -> list[AgentRecord]:
        return copy.deepcopy(list(self._t(tenant).agents.values()))

    async def get_interaction(self, tenant: str, interaction_id: str) -> InteractionRecord | None:
        return copy.deepcopy(self._t(tenant).interactions.get(interaction_id))

    async def list_interactions(
        self, tenant: str, states: Iterable[InteractionState]
    ) -> list[InteractionRecord]:
        wanted = set(states)
        return copy.deepcopy(
            [r for r in self._t(tenant).interactions.values() if r.interaction.state in wanted]
        )

    async def history(self, tenant: str, interaction_id: str) -> list[Event]:
        return list(self._t(tenant).history.get(interaction_id, ()))

    async def get_customer(self, tenant: str, customer_id: str) -> CustomerRecord | None:
        return self._t(tenant).customers.get(customer_id)

    async def counters(self, tenant: str) -> dict[str, int]:
        return dict(self._t(tenant).counters)

    async def tenants(self) -> list[str]:
        return list(self._tenants)

    async def create_interaction(
        self, tenant: str, record: InteractionRecord, t: Transition
    ) -> bool:
        if record.id in self._t(tenant).interactions:
            return False
        self._write(tenant, Transition(interactions=[record]))
        self._write(tenant, t)
        return True

    async def apply(self, tenant: str, t: Transition) -> None:
        self._write(tenant, t)

    def _write(self, tenant: str, t: Transition) -> None:
        s = self._t(tenant)
        for rec in t.interactions:
            s.interactions[rec.id] = copy.deepcopy(rec)
        for agent in t.agents:
            s.agents[agent.agent.id] = copy.deepcopy(agent)
        for agent_id in t.removed_agents:
            s.agents.pop(agent_id, None)
        for event in t.events:
            s.history.setdefault(event.interaction_id, []).append(event)
        for name, n in t.counters.items():
            s.counters[name] = s.counters.get(name, 0) + n
        for customer in t.customers:
            s.customers[customer.customer_id] = customer

    async def close(self) -> None:
        return None
