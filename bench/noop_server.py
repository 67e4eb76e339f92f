"""A no-op grpc.aio server of the Router service: the transport's own cost.

    python -m bench.noop_server   # prints "listening on HOST:PORT", serves until killed

Every call answers at once: no validation, no routing, no Redis. Enqueue answers an empty
EnqueueResponse; UpsertAgent, Accept, Complete and Cancel an empty Agent or Interaction.
So that an interaction's life costs the transport what it costs the router, the messages
a life puts on a watching stream are sent too: Enqueue offers the interaction to the next
agent watched (round robin; none watched, no event), Accept sends ASSIGNED and Complete
RELEASED to the watchers, each event carrying only the ids. `WatchAssignments` and a
`Session`'s subscribe both watch; a Session answers each call with its correlation id.
The rest of the service is UNIMPLEMENTED.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from cim_router._pb import router_pb2 as pb
from cim_router._pb import router_pb2_grpc

Send = Callable[[pb.AssignmentEvent], None]
EMPTY: dict[str, Callable[[], Any]] = {
    "enqueue": pb.EnqueueResponse,
    "accept": pb.Interaction,
    "complete": pb.Interaction,
    "cancel": pb.Interaction,
    "upsert_agent": pb.Agent,
}
EVENTS = {
    "accept": pb.ASSIGNMENT_EVENT_TYPE_ASSIGNED,
    "complete": pb.ASSIGNMENT_EVENT_TYPE_RELEASED,
}


class NoopRouter(router_pb2_grpc.RouterServicer):
    def __init__(self) -> None:
        self.watchers: list[tuple[list[str], Send]] = []
        self.turn = itertools.count()

    def _offer(self, interaction_id: str) -> None:
        if not self.watchers:
            return
        agents, send = self.watchers[next(self.turn) % len(self.watchers)]
        if agents:
            agent_id = agents[next(self.turn) % len(agents)]
            send(_event(pb.ASSIGNMENT_EVENT_TYPE_OFFERED, interaction_id, agent_id))

    def _tell(self, kind: str, request: Any) -> None:
        event = _event(EVENTS[kind], request.interaction_id, request.agent_id)
        for _, send in self.watchers:
            send(event)

    def _answer(self, kind: str, request: Any) -> Any:
        if kind == "enqueue":
            self._offer(request.interaction_id)
        elif kind in EVENTS:
            self._tell(kind, request)
        return EMPTY[kind]()

    async def Enqueue(self, request: pb.EnqueueRequest, context: Any) -> pb.EnqueueResponse:
        answer: pb.EnqueueResponse = self._answer("enqueue", request)
        return answer

    async def UpsertAgent(self, request: pb.UpsertAgentRequest, context: Any) -> pb.Agent:
        return pb.Agent()

    async def Accept(self, request: pb.AcceptRequest, context: Any) -> pb.Interaction:
        answer: pb.Interaction = self._answer("accept", request)
        return answer

    async def Complete(self, request: pb.CompleteRequest, context: Any) -> pb.Interaction:
        answer: pb.Interaction = self._answer("complete", request)
        return answer

    async def Cancel(self, request: pb.CancelRequest, context: Any) -> pb.Interaction:
        return pb.Interaction()

    async def WatchAssignments(
        self, request: pb.WatchAssignmentsRequest, context: Any
    ) -> AsyncIterator[pb.AssignmentEvent]:
        queue: asyncio.Queue[pb.AssignmentEvent] = asyncio.Queue()
        watcher = (list(request.agent_ids), queue.put_nowait)
        self.watchers.append(watcher)
        try:
            while True:
                yield await queue.get()
        finally:
            self.watchers.remove(watcher)

    async def Session(
        self, request_iterator: AsyncIterator[pb.SessionRequest], context: Any
    ) -> AsyncIterator[pb.SessionResponse]:
        out: asyncio.Queue[pb.SessionResponse | None] = asyncio.Queue()
        mine: list[tuple[list[str], Send]] = []

        async def read() -> None:
            async for request in request_iterator:
                kind = request.WhichOneof("call")
                cid = request.correlation_id
                if kind == "subscribe":

                    def send(event: pb.AssignmentEvent, cid: str = cid) -> None:
                        out.put_nowait(pb.SessionResponse(correlation_id=cid, event=event))

                    for watcher in mine:
                        self.watchers.remove(watcher)
                    mine[:] = [(list(request.subscribe.agent_ids), send)]
                    self.watchers.extend(mine)
                    answer = pb.SessionResponse(
                        correlation_id=cid, subscribe=pb.SubscribeResponse()
                    )
                elif kind in EMPTY:
                    result = self._answer(kind, getattr(request, kind))
                    answer = pb.SessionResponse(correlation_id=cid, **{kind: result})
                else:
                    error = pb.SessionError(code=grpc.StatusCode.UNIMPLEMENTED.value[0])
                    answer = pb.SessionResponse(correlation_id=cid, error=error)
                out.put_nowait(answer)
            out.put_nowait(None)

        reader = asyncio.ensure_future(read())
        try:
            while (response := await out.get()) is not None:
                yield response
        finally:
            reader.cancel()
            for watcher in mine:
                self.watchers.remove(watcher)


def _event(
    type_: pb.AssignmentEventType.ValueType, interaction_id: str, agent_id: str
) -> pb.AssignmentEvent:
    return pb.AssignmentEvent(
        type=type_, agent_id=agent_id, interaction=pb.Interaction(id=interaction_id)
    )


async def main() -> None:
    server = grpc.aio.server()
    servicer = NoopRouter()  # type: ignore[abstract]  # what a life calls; the rest UNIMPLEMENTED
    router_pb2_grpc.add_RouterServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"listening on 127.0.0.1:{port}", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main())
