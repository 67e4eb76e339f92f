"""`Session`: many calls over one Session stream of the blocking client.

    with router.session() as s:
        s.call(pb.WatchAssignmentsRequest(agent_ids=["ann"]))
        futures = [s.submit(pb.EnqueueRequest(...)) for ...]   # all in flight at once
        answers = [f.result() for f in futures]

A thread reads the answers and resolves each call's future by its correlation id; a
refused call raises its RouterError and the session goes on."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import grpc
from google.protobuf.message import Message

from cim_router._pb import router_pb2 as pb
from cim_router._pb import router_pb2_grpc
from cim_router.client.connection import Metadata
from cim_router.client.errors import RouterError
from cim_router.client.session_calls import ended, envelope, outcome


class Session:
    """One open Session stream; `with`, or `close()` when done."""

    def __init__(
        self, stub: router_pb2_grpc.RouterStub, metadata: Metadata, timeout: float | None
    ) -> None:
        self._outgoing: queue.Queue[pb.SessionRequest | None] = queue.Queue()
        self._pending: dict[str, Future[Any]] = {}
        self._events: queue.Queue[pb.AssignmentEvent | None] = queue.Queue()
        self._lock = threading.Lock()
        self._next = 0
        self._closed = False
        self._failure: RouterError | None = None
        self._call: Any = stub.Session(
            iter(self._outgoing.get, None), metadata=metadata, timeout=timeout
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self) -> None:
        failure: RouterError | None = None
        try:
            for response in self._call:
                if response.WhichOneof("result") == "event":
                    self._events.put(response.event)
                    continue
                with self._lock:
                    future = self._pending.pop(response.correlation_id, None)
                if future is None:
                    continue
                result, error = outcome(response)
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(result)
        except grpc.RpcError as exc:
            assert isinstance(exc, grpc.Call)
            failure = ended(exc.code(), exc.details())
        finally:
            with self._lock:
                self._failure = failure or ended()
                pending, self._pending = self._pending, {}
            for future in pending.values():
                future.set_exception(self._failure)
            self._events.put(None)

    def submit(self, request: Message, *, request_id: str | None = None) -> Future[Any]:
        """Send one call now; the future of its result."""
        with self._lock:
            if self._closed or self._failure is not None:
                raise self._failure or ended()
            self._next += 1
            correlation_id = str(self._next)
            future: Future[Any] = Future()
            self._pending[correlation_id] = future
        self._outgoing.put(envelope(correlation_id, request, request_id))
        return future

    def call(
        self, request: Message, *, request_id: str | None = None, timeout: float | None = None
    ) -> Any:
        return self.submit(request, request_id=request_id).result(timeout)

    def events(self) -> Iterator[pb.AssignmentEvent]:
        """The events of the agents subscribed to, until the session ends."""
        while (event := self._events.get()) is not None:
            yield event
        self._events.put(None)

    def close(self, timeout: float | None = None) -> None:
        """Half-close: the calls sent are answered, then the stream ends."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._outgoing.put(None)
        self._reader.join(timeout)
