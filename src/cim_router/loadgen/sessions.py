"""`loadgen --session`: the run's interaction calls over Session streams instead of unary
calls. Each stream follows one group of agents (as a WatchAssignments stream would) and
carries the calls of those agents (Accept, Reject, Complete, their state); Enqueue and
Cancel go round the streams in turn. Each call keeps the run's per-call deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Iterable
from typing import TypeVar

import grpc

from cim_router._pb import router_pb2 as pb
from cim_router.client import AsyncRouterClient, RouterError
from cim_router.client.aio_session import AsyncSession
from cim_router.client.names import AgentStateLike, ChannelLike
from cim_router.client.requests import Skills

T = TypeVar("T")


class SessionCalls:
    """The calls a load run makes per interaction, as AsyncRouterClient's, over sessions."""

    def __init__(self, client: AsyncRouterClient, streams: int, timeout: float) -> None:
        self.sessions = [client.session() for _ in range(streams)]
        self.timeout = timeout
        self._of_agent: dict[str, AsyncSession] = {}
        self._turn = 0

    async def follow(self, k: int, agent_ids: Iterable[str]) -> AsyncIterator[pb.AssignmentEvent]:
        """Stream `k` subscribed to these agents, and their events."""
        session = self.sessions[k]
        ids = list(agent_ids)
        for agent_id in ids:
            self._of_agent[agent_id] = session
        await session.subscribe(ids)
        async for event in session.events():
            yield event

    async def close(self) -> None:
        await asyncio.gather(*(s.close() for s in self.sessions), return_exceptions=True)

    def _any(self) -> AsyncSession:
        self._turn = (self._turn + 1) % len(self.sessions)
        return self.sessions[self._turn]

    def _for(self, agent_id: str) -> AsyncSession:
        return self._of_agent.get(agent_id) or self._any()

    async def _timed(self, call: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(call, self.timeout)
        except asyncio.TimeoutError:
            raise RouterError(grpc.StatusCode.DEADLINE_EXCEEDED, "no answer in time") from None

    async def enqueue(
        self,
        interaction_id: str,
        *,
        channel: ChannelLike,
        required: Skills | None = None,
        customer_id: str = "",
        sla_seconds: float = 0.0,
        queue_id: str = "",
    ) -> pb.EnqueueResponse:
        return await self._timed(
            self._any().enqueue(
                interaction_id,
                channel=channel,
                required=required,
                customer_id=customer_id,
                sla_seconds=sla_seconds,
                queue_id=queue_id,
            )
        )

    async def accept(self, interaction_id: str, agent_id: str) -> pb.Interaction:
        return await self._timed(self._for(agent_id).accept(interaction_id, agent_id))

    async def reject(
        self, interaction_id: str, agent_id: str, *, reason: str = ""
    ) -> pb.Interaction:
        session = self._for(agent_id)
        return await self._timed(session.reject(interaction_id, agent_id, reason=reason))

    async def complete(
        self, interaction_id: str, *, agent_id: str = "", csat: int = 0
    ) -> pb.Interaction:
        session = self._for(agent_id)
        return await self._timed(session.complete(interaction_id, agent_id=agent_id, csat=csat))

    async def cancel(self, interaction_id: str, *, reason: str = "") -> pb.Interaction:
        return await self._timed(self._any().cancel(interaction_id, reason=reason))

    async def get_agent(self, agent_id: str) -> pb.Agent:
        return await self._timed(self._for(agent_id).get_agent(agent_id))

    async def set_agent_state(self, agent_id: str, state: AgentStateLike) -> pb.Agent:
        return await self._timed(self._for(agent_id).set_agent_state(agent_id, state))
