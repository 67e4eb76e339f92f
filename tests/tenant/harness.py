"""A tenant's own logic on the in-memory store and a manual clock: no gRPC, no Redis, and
time moves only when a test says so. `Harness.advance` fires whatever falls due."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from cim_router.domain.agent import Agent, AgentState
from cim_router.domain.channel import DEFAULT_CAPACITY, Channel
from cim_router.domain.interaction import Interaction, SkillRequirement
from cim_router.domain.policy import Policy
from cim_router.store.memory import MemoryStore
from cim_router.tenant import agents, feedback, holds, interactions, transfers
from cim_router.tenant.clock import ManualClock
from cim_router.tenant.forget import Forgotten, forget_customer
from cim_router.tenant.ports import Store
from cim_router.tenant.records import AgentRecord, InteractionRecord, TransferMode
from cim_router.tenant.registry import Tenants
from cim_router.tenant.router import TenantRouter
from cim_router.tenant.watch import Notice, Watcher

T = TypeVar("T")
TENANT = "t"


def run(body: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run an async test body on a fresh event loop."""
    return asyncio.run(body())


class Harness:
    """One tenant on a fresh in-memory store, or on `store` (a restart, or a real one)."""

    def __init__(self, policy: Policy | None = None, store: Store | None = None) -> None:
        self.policy = policy or Policy()
        # Typed as the in-memory store the tests inspect; a test that brings another Store
        # (a real Redis one) reads it only through the Store port.
        self.store: MemoryStore = store or MemoryStore()  # type: ignore[assignment]
        self.clock = ManualClock()
        self.tenants = Tenants(self.store, self.policy, self.clock)

    async def start(self) -> Harness:
        await self.store.start()
        await self.tenants.start(clock_task=False)
        await self.settle()
        return self

    async def restart(self) -> Harness:
        """A new router process on the same store, later by a second."""
        await self.tenants.stop()
        again = Harness(self.policy, self.store)
        again.clock.set(self.clock() + 1.0)
        return await again.start()

    async def settle(self) -> None:
        """Fire what is due now and let notices reach their watchers."""
        await self.tenants.fire_due()
        for _ in range(3):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move time on in small steps, firing each timer at its time."""
        end = self.clock() + seconds
        while True:
            due = self.tenants.timers.next_due()
            if due is None or due > end:
                break
            self.clock.set(max(due, self.clock()))
            await self.settle()
        self.clock.set(end)
        await self.settle()

    # --- the tenant -----------------------------------------------------------------------

    def router(self) -> TenantRouter:
        found = self.tenants.find(TENANT)
        assert found is not None, "the tenant has not written anything yet"
        return found

    async def _use(self, op: Callable[[TenantRouter], Awaitable[T]]) -> T:
        async with self.tenants.use(TENANT) as router:
            out = await op(router)
        await self.settle()
        return out

    async def call(self, op: Callable[[TenantRouter], Awaitable[T]]) -> T:
        """Run a tenant operation as the service does, then fire what fell due."""
        return await self._use(op)

    def get(self, interaction_id: str) -> InteractionRecord:
        r = self.router()
        found = r.open.get(interaction_id) or r.closed.get(interaction_id)
        assert found is not None, interaction_id
        return found

    def agent_record(self, agent_id: str) -> AgentRecord:
        return self.router().agent(agent_id)

    def load(self, agent_id: str) -> dict[Channel, int]:
        return {c: n for c, n in self.agent_record(agent_id).agent.load.items() if n}

    def watch(self, *agent_ids: str) -> Watcher:
        return self.router().hub.subscribe(frozenset(agent_ids) or None)

    @staticmethod
    def drain(watcher: Watcher) -> list[Notice]:
        out = []
        while not watcher.queue.empty():
            notice = watcher.queue.get_nowait()
            if notice is not None:
                out.append(notice)
        return out

    # --- calls, as the service makes them ------------------------------------------------

    async def agent(
        self,
        agent_id: str,
        skills: dict[str, int] | None = None,
        state: AgentState | None = AgentState.AVAILABLE,
        tier: int = 1,
        capacity: dict[Channel, int] | None = None,
    ) -> AgentRecord:
        caps = {**DEFAULT_CAPACITY, **(capacity or {})}
        profile = Agent(agent_id, skills=dict(skills or {}), tier=tier, capacity=caps)
        return await self._use(lambda r: agents.upsert_agent(r, profile, state))

    async def set_state(self, agent_id: str, state: AgentState, reason: str = "") -> AgentRecord:
        return await self._use(lambda r: agents.set_agent_state(r, agent_id, state, reason))

    async def enqueue(
        self,
        interaction_id: str,
        channel: Channel = Channel.CHAT,
        required: dict[str, int] | None = None,
        **kw: Any,
    ) -> InteractionRecord:
        reqs = tuple(SkillRequirement(s, level) for s, level in (required or {}).items())
        i = Interaction(interaction_id, channel, required=reqs, **kw)
        digest = repr(sorted(vars(i).items())).encode()
        rec, _, _, _ = await self._use(lambda r: interactions.enqueue(r, i, digest))
        return rec

    async def accept(self, interaction_id: str, agent_id: str) -> InteractionRecord:
        return await self._use(lambda r: interactions.accept(r, interaction_id, agent_id))

    async def reject(self, interaction_id: str, agent_id: str) -> InteractionRecord:
        return await self._use(lambda r: interactions.reject(r, interaction_id, agent_id, ""))

    async def complete(
        self, interaction_id: str, agent_id: str = "", csat: int = 0
    ) -> InteractionRecord:
        return await self._use(
            lambda r: interactions.complete(r, interaction_id, agent_id, "", csat)
        )

    async def cancel(self, interaction_id: str) -> InteractionRecord:
        return await self._use(lambda r: interactions.cancel(r, interaction_id, ""))

    async def transfer(
        self,
        interaction_id: str,
        mode: TransferMode = TransferMode.WARM,
        agent_id: str = "",
        required: dict[str, int] | None = None,
        channel: Channel | None = None,
    ) -> InteractionRecord:
        reqs = (
            None
            if required is None
            else tuple(SkillRequirement(s, level) for s, level in required.items())
        )
        return await self._use(
            lambda r: transfers.transfer(r, interaction_id, mode, agent_id, reqs, channel, "")
        )

    async def escalate(self, interaction_id: str) -> InteractionRecord:
        return await self._use(lambda r: transfers.escalate(r, interaction_id, ""))

    async def forget(self, customer_id: str) -> Forgotten:
        return await self._use(lambda r: forget_customer(r, customer_id))

    async def hold(
        self, interaction_id: str, agent_id: str = "", reason: str = ""
    ) -> InteractionRecord:
        return await self._use(lambda r: holds.hold(r, interaction_id, agent_id, reason))

    async def resume(self, interaction_id: str, agent_id: str = "") -> InteractionRecord:
        return await self._use(lambda r: holds.resume(r, interaction_id, agent_id))

    async def submit_feedback(
        self,
        interaction_id: str,
        csat: int,
        comment: str = "",
        fields: dict[str, str] | None = None,
    ) -> InteractionRecord:
        return await self._use(
            lambda r: feedback.submit(r, interaction_id, csat, comment, fields or {})
        )
