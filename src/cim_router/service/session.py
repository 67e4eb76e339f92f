"""The Session RPC: many calls over one bidirectional stream.

Each SessionRequest is the request of a unary RPC and runs through the same function as
that RPC (`rpc.checked_call`: the caller's check, the call's validation, its tenant, its
request id, its durable wait, the audit trail); its answer, or its refusal as a
SessionError, goes back with the request's correlation_id and the stream goes on. Calls are
served concurrently, at most MAX_SESSION_IN_FLIGHT at once: past that the server reads no
more requests until one is answered (HTTP/2 flow control then holds the client back), and
answers wait in a bounded queue for the client to read them. A `subscribe` follows agents
as WatchAssignments does; its events carry its correlation_id.

The stream's own check at its start (credentials, x-cim-tenant) is the only refusal that
ends it; otherwise it ends once the client half-closes and every call read is answered, or
when the server stops (UNAVAILABLE, after the calls read are answered).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING, Any, cast

import grpc

from cim_router._pb import router_pb2 as pb
from cim_router.domain.errors import ValidationError
from cim_router.domain.limits import MAX_SESSION_IN_FLIGHT
from cim_router.service import convert
from cim_router.service.handlers import Undecodable
from cim_router.service.metadata import REQUEST_HEADER
from cim_router.service.rpc import CALLS, STATUS, Context, checked_call, refusal, tenant_of
from cim_router.service.watching import watching
from cim_router.tenant.errors import InvalidArgument, ServiceError

if TYPE_CHECKING:
    from cim_router.observability.metrics import Observer

log = logging.getLogger(__name__)

# A SessionRequest's call (its oneof field) -> the unary RPC it is; the answer's result
# field has the same name. `subscribe` is checked as WatchAssignments.
CALL_METHODS: dict[str, str] = {
    "enqueue": "Enqueue",
    "accept": "Accept",
    "reject": "Reject",
    "complete": "Complete",
    "cancel": "Cancel",
    "transfer": "Transfer",
    "escalate": "Escalate",
    "cancel_transfer": "CancelTransfer",
    "update_context": "UpdateContext",
    "set_agent_state": "SetAgentState",
    "upsert_agent": "UpsertAgent",
    "hold": "Hold",
    "resume": "Resume",
    "submit_feedback": "SubmitFeedback",
    "request_callback": "RequestCallback",
    "get_interaction": "GetInteraction",
    "get_agent": "GetAgent",
    "subscribe": "WatchAssignments",
}
SUBSCRIBE = "subscribe"
NO_CALL = "none"  # the metrics' method label of a request that names no call

_OK = grpc.StatusCode.OK.name
STOP_SECONDS = 5.0  # at a server stop, how long sessions may take to answer what they read


class _CallContext:
    """What one call of a session sees as its context: the stream's metadata with the
    request's own request id, and no deadline of its own."""

    __slots__ = ("_metadata", "_stream")

    def __init__(self, stream: Context, metadata: tuple[tuple[str, str | bytes], ...]) -> None:
        self._stream = stream
        self._metadata = metadata

    def invocation_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        return self._metadata

    def auth_context(self) -> Any:
        return self._stream.auth_context()

    def peer(self) -> str:
        return self._stream.peer()

    def time_remaining(self) -> float | None:
        return None


def error_out(exc: ServiceError | ValidationError) -> tuple[pb.SessionError, str]:
    """The refusal as a SessionError, and its status code's name."""
    err = refusal(exc)
    status = STATUS[err.code]
    field = err.field if isinstance(err, InvalidArgument) else ""
    return pb.SessionError(code=status.value[0], message=err.message, field=field), status.name


class SessionRpc:
    """The Session RPC of the Router servicer."""

    tenants: Any
    access: Any
    sessions: set[Session]

    async def Session(
        self, requests: AsyncIterator[pb.SessionRequest | Undecodable], context: Context
    ) -> AsyncIterator[pb.SessionResponse]:
        try:
            await self.access.check("Session", None, tenant_of(context), context)
        except (ServiceError, ValidationError) as exc:
            err = refusal(exc)
            await context.abort(STATUS[err.code], err.message)
        session = Session(self, context, self.tenants.observer)
        self.sessions.add(session)
        try:
            async for response in session.run(requests):
                yield response
        finally:
            self.sessions.discard(session)

    async def end_sessions(self) -> None:
        """The server is stopping: each session reads no more, answers what it read, and
        ends with UNAVAILABLE."""
        stops = [asyncio.ensure_future(s.stop()) for s in list(self.sessions)]
        if stops:  # a client that reads no answers holds its session's end: not for long
            await asyncio.wait(stops, timeout=STOP_SECONDS)


class Session:
    """One open Session stream."""

    def __init__(self, servicer: Any, context: Context, observer: Observer | None) -> None:
        self.servicer = servicer
        self.context = context
        self.observer = observer
        self.base = tuple(
            (k, v) for k, v in context.invocation_metadata() or () if k != REQUEST_HEADER
        )
        self.slots = asyncio.Semaphore(MAX_SESSION_IN_FLIGHT)
        # Answers and events not yet written; full, it holds calls and events back.
        self.out: asyncio.Queue[pb.SessionResponse | None] = asyncio.Queue(MAX_SESSION_IN_FLIGHT)
        self.calls: set[asyncio.Task[None]] = set()
        self.reader: asyncio.Task[None] | None = None
        self.subscription: asyncio.Task[None] | None = None
        self.stopping = False
        self.gone = False

    async def run(
        self, requests: AsyncIterator[pb.SessionRequest | Undecodable]
    ) -> AsyncIterator[pb.SessionResponse]:
        self.reader = asyncio.get_running_loop().create_task(self._read(requests))
        try:
            while (response := await self.out.get()) is not None:
                yield response
            if self.stopping:
                await self.context.abort(grpc.StatusCode.UNAVAILABLE, "the server is stopping")
        finally:
            self.gone = True  # nobody reads `out` any more: nothing waits to put in it
            for task in (self.reader, self.subscription, *self.calls):
                if task is not None:
                    task.cancel()

    async def stop(self) -> None:
        self.stopping = True
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader

    async def _read(self, requests: AsyncIterator[pb.SessionRequest | Undecodable]) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for request in requests:
                await self.slots.acquire()
                if isinstance(request, pb.SessionRequest) and request.WhichOneof("call") == (
                    SUBSCRIBE
                ):
                    await self._subscribe(request)
                    continue
                task = loop.create_task(self._call(request))
                self.calls.add(task)
                task.add_done_callback(self.calls.discard)
        finally:
            if not self.gone:
                await self._drain()

    async def _drain(self) -> None:
        """Every call read is answered before the stream ends."""
        if self.calls:
            await asyncio.wait(list(self.calls))
        if self.subscription is not None:
            self.subscription.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.subscription
        await self.out.put(None)

    async def _call(self, request: pb.SessionRequest | Undecodable) -> None:
        start = time.perf_counter()
        method = NO_CALL
        correlation_id = ""
        code = _OK
        try:
            try:
                if isinstance(request, Undecodable):
                    raise InvalidArgument("request", f"cannot be decoded as {request.type_name}")
                correlation_id = convert.optional_id("correlation_id", request.correlation_id)
                kind = request.WhichOneof("call")
                if kind is None:
                    raise InvalidArgument("call", "set one call")
                method = CALL_METHODS[kind]
                answer = await checked_call(
                    self.servicer,
                    method,
                    CALLS[method],
                    getattr(request, kind),
                    self._context(request.request_id),
                )
                response = pb.SessionResponse(correlation_id=correlation_id, **{kind: answer})
            except (ServiceError, ValidationError) as exc:
                error, code = error_out(exc)
                response = pb.SessionResponse(correlation_id=correlation_id, error=error)
            except Exception:  # a bug: the call fails, the session goes on
                log.exception("session call failed", extra={"method": method})
                code = grpc.StatusCode.INTERNAL.name
                error = pb.SessionError(
                    code=grpc.StatusCode.INTERNAL.value[0], message="internal error"
                )
                response = pb.SessionResponse(correlation_id=correlation_id, error=error)
            await self.out.put(response)
        finally:
            self.slots.release()
            if self.observer is not None:
                self.observer.session_message(method, code, time.perf_counter() - start)

    def _context(self, request_id: str) -> Context:
        if request_id:
            convert.require_id("request_id", request_id)
            metadata = (*self.base, (REQUEST_HEADER, request_id))
        else:
            metadata = self.base
        return cast(Context, _CallContext(self.context, metadata))

    async def _subscribe(self, request: pb.SessionRequest) -> None:
        """A subscribe replaces the session's subscription; it is answered once its check
        passes (or with its refusal), and its events follow."""
        if self.subscription is not None:
            self.subscription.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.subscription
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.subscription = asyncio.get_running_loop().create_task(self._follow(request, started))
        await started

    async def _follow(self, request: pb.SessionRequest, started: asyncio.Future[None]) -> None:
        start = time.perf_counter()
        correlation_id = ""
        code = _OK
        answered = False

        def answer(response: pb.SessionResponse) -> Awaitable[None]:
            nonlocal answered
            answered = True
            self.slots.release()
            if not started.done():
                started.set_result(None)
            if self.observer is not None:
                self.observer.session_message(
                    CALL_METHODS[SUBSCRIBE], code, time.perf_counter() - start
                )
            return self.out.put(response)

        try:
            try:
                correlation_id = convert.optional_id("correlation_id", request.correlation_id)
                context = self._context(request.request_id)
                async with watching(self.servicer, request.subscribe, context) as watch:
                    agent_ids = sorted(request.subscribe.agent_ids)
                    await answer(
                        pb.SessionResponse(
                            correlation_id=correlation_id,
                            subscribe=pb.SubscribeResponse(agent_ids=agent_ids),
                        )
                    )
                    while (event := await watch.next()) is not None:
                        await self.out.put(
                            pb.SessionResponse(correlation_id=correlation_id, event=event)
                        )
                # Closed by the router (server stop, a backlog too long, tenant deleted).
                gone = pb.SessionError(
                    code=grpc.StatusCode.UNAVAILABLE.value[0],
                    message="subscription ended: subscribe again",
                )
                await self.out.put(pb.SessionResponse(correlation_id=correlation_id, error=gone))
            except (ServiceError, ValidationError) as exc:
                error, code = error_out(exc)
                response = pb.SessionResponse(correlation_id=correlation_id, error=error)
                if answered:
                    await self.out.put(response)
                else:
                    await answer(response)
        finally:
            if not answered:  # cancelled before its check finished
                answered = True
                self.slots.release()
                if not started.done():
                    started.set_result(None)
