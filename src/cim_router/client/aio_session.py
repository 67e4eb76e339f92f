"""`AsyncSession`: many calls over one Session stream of the async client.

    async with router.session() as s:
        await s.subscribe(["ann"])
        answer = await s.enqueue("chat-1", channel="chat")
        async for event in s.events():
            await s.accept(event.interaction.id, event.agent_id)

Calls may be made concurrently from many tasks: each is sent at once and its future is
resolved by its correlation id, whatever order the answers come in. A refused call raises
its RouterError; the session goes on. Calls unanswered when the stream ends raise the
stream's error (Unavailable when the server stops: retry them, on a new session, with the
same `request_id`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

import grpc
import grpc.aio
from google.protobuf.message import Message

from cim_router._pb import router_pb2 as pb
from cim_router._pb import router_pb2_grpc
from cim_router.client import requests
from cim_router.client.connection import Metadata
from cim_router.client.errors import RouterError
from cim_router.client.names import AgentStateLike, ChannelLike, agent_state
from cim_router.client.requests import Skills
from cim_router.client.session_calls import ended, envelope, outcome


class AsyncSession:
    """One open Session stream; `async with`, or `close()` when done."""

    def __init__(
        self, stub: router_pb2_grpc.RouterAsyncStub, metadata: Metadata, timeout: float | None
    ) -> None:
        self._outgoing: asyncio.Queue[pb.SessionRequest | None] = asyncio.Queue()
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._events: asyncio.Queue[pb.AssignmentEvent | None] = asyncio.Queue()
        self._next = 0
        self._closed = False
        self._failure: RouterError | None = None
        self._call = stub.Session(self._requests(), metadata=metadata, timeout=timeout)
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def __aenter__(self) -> AsyncSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _requests(self) -> AsyncIterator[pb.SessionRequest]:
        while (request := await self._outgoing.get()) is not None:
            yield request

    async def _read(self) -> None:
        failure: RouterError | None = None
        try:
            async for response in self._call:
                if response.WhichOneof("result") == "event":
                    self._events.put_nowait(response.event)
                    continue
                future = self._pending.pop(response.correlation_id, None)
                if future is None or future.done():
                    continue
                result, error = outcome(response)
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(result)
        except grpc.aio.AioRpcError as exc:
            failure = ended(exc.code(), exc.details())
        except asyncio.CancelledError:
            failure = ended()
        finally:
            self._failure = failure or ended()
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(self._failure)
            self._pending.clear()
            self._events.put_nowait(None)

    def submit(self, request: Message, *, request_id: str | None = None) -> asyncio.Future[Any]:
        """Send one call now (the request of the unary RPC: EnqueueRequest, AcceptRequest,
        ...); the future of its result. A call that writes gets a fresh request id unless
        one is given."""
        if self._closed or self._reader.done():
            raise self._failure or ended()
        self._next += 1
        correlation_id = str(self._next)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = future
        self._outgoing.put_nowait(envelope(correlation_id, request, request_id))
        return future

    async def call(self, request: Message, *, request_id: str | None = None) -> Any:
        return await self.submit(request, request_id=request_id)

    async def events(self) -> AsyncIterator[pb.AssignmentEvent]:
        """The events of the agents subscribed to, until the session ends."""
        while (event := await self._events.get()) is not None:
            yield event
        self._events.put_nowait(None)  # for the next reader too

    async def close(self) -> None:
        """Half-close: the calls sent are answered, then the stream ends."""
        if not self._closed:
            self._closed = True
            self._outgoing.put_nowait(None)
        await asyncio.shield(self._reader)

    # --- the calls a session's client makes most -------------------------------------------

    async def subscribe(self, agent_ids: Iterable[str] = ()) -> pb.SubscribeResponse:
        """Follow these agents' offers and assignments (empty: every agent) on `events()`;
        replaces an earlier subscribe."""
        answer: pb.SubscribeResponse = await self.call(
            pb.WatchAssignmentsRequest(agent_ids=list(agent_ids))
        )
        return answer

    async def enqueue(
        self,
        interaction_id: str,
        *,
        channel: ChannelLike,
        required: Skills | None = None,
        priority: int = 0,
        customer_id: str = "",
        sla_seconds: float = 0.0,
        queue_id: str = "",
        request_id: str | None = None,
    ) -> pb.EnqueueResponse:
        request = requests.enqueue(
            interaction_id,
            channel_=channel,
            required=required,
            preferred=None,
            priority=priority,
            customer_id=customer_id,
            customer_tier="",
            sla_seconds=sla_seconds,
            preferred_agent_id="",
            context=None,
            queue_id=queue_id,
        )
        answer: pb.EnqueueResponse = await self.call(request, request_id=request_id)
        return answer

    async def accept(
        self, interaction_id: str, agent_id: str, *, request_id: str | None = None
    ) -> pb.Interaction:
        request = pb.AcceptRequest(interaction_id=interaction_id, agent_id=agent_id)
        answer: pb.Interaction = await self.call(request, request_id=request_id)
        return answer

    async def reject(
        self, interaction_id: str, agent_id: str, *, reason: str = "", request_id: str | None = None
    ) -> pb.Interaction:
        request = pb.RejectRequest(interaction_id=interaction_id, agent_id=agent_id, reason=reason)
        answer: pb.Interaction = await self.call(request, request_id=request_id)
        return answer

    async def complete(
        self,
        interaction_id: str,
        *,
        agent_id: str = "",
        disposition: str = "",
        csat: int = 0,
        request_id: str | None = None,
    ) -> pb.Interaction:
        request = pb.CompleteRequest(
            interaction_id=interaction_id, agent_id=agent_id, disposition=disposition, csat=csat
        )
        answer: pb.Interaction = await self.call(request, request_id=request_id)
        return answer

    async def cancel(
        self, interaction_id: str, *, reason: str = "", request_id: str | None = None
    ) -> pb.Interaction:
        request = pb.CancelRequest(interaction_id=interaction_id, reason=reason)
        answer: pb.Interaction = await self.call(request, request_id=request_id)
        return answer

    async def set_agent_state(
        self,
        agent_id: str,
        state: AgentStateLike,
        *,
        reason: str = "",
        request_id: str | None = None,
    ) -> pb.Agent:
        request = pb.SetAgentStateRequest(
            agent_id=agent_id, state=agent_state(state), reason=reason
        )
        answer: pb.Agent = await self.call(request, request_id=request_id)
        return answer

    async def get_agent(self, agent_id: str) -> pb.Agent:
        answer: pb.Agent = await self.call(pb.GetAgentRequest(agent_id=agent_id))
        return answer
