"""A Session stream driven from a test thread: send calls, wait for the answer of each by its
correlation id, read the events; the stream's own status once it ends."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import grpc

from cim_router._pb import router_pb2 as pb
from cim_router._pb import router_pb2_grpc


class StreamEnded(AssertionError):
    """The stream ended before what was waited for came."""


class SyncSession:
    def __init__(
        self,
        stub: router_pb2_grpc.RouterStub,
        metadata: tuple[tuple[str, str | bytes], ...] = (),
        timeout: float = 30.0,
    ) -> None:
        self._requests: queue.Queue[pb.SessionRequest | None] = queue.Queue()
        self.call: Any = stub.Session(
            iter(self._requests.get, None), metadata=metadata, timeout=timeout
        )
        self.answers: dict[str, list[pb.SessionResponse]] = {}
        self.order: list[str] = []  # correlation ids in the order answered
        self.events: list[pb.SessionResponse] = []
        self.code: grpc.StatusCode | None = None  # the stream's status, once ended
        self.details = ""
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        self._next = 0

    def _read(self) -> None:
        try:
            for response in self.call:
                with self._cond:
                    if response.WhichOneof("result") == "event":
                        self.events.append(response)
                    else:
                        self.answers.setdefault(response.correlation_id, []).append(response)
                        self.order.append(response.correlation_id)
                    self._cond.notify_all()
            code, details = grpc.StatusCode.OK, ""
        except grpc.RpcError as exc:
            assert isinstance(exc, grpc.Call)
            code, details = exc.code(), exc.details() or ""
        with self._cond:
            self.code, self.details = code, details
            self._cond.notify_all()

    def send(self, correlation_id: str | None = None, request_id: str = "", **call: Any) -> str:
        """Send one call (`enqueue=pb.EnqueueRequest(...)`); its correlation id."""
        if correlation_id is None:
            self._next += 1
            correlation_id = f"c{self._next}"
        self._requests.put(
            pb.SessionRequest(correlation_id=correlation_id, request_id=request_id, **call)
        )
        return correlation_id

    def send_raw(self, request: pb.SessionRequest) -> None:
        self._requests.put(request)

    def wait(self, predicate: Any, timeout: float = 10.0, what: str = "an answer") -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if self.code is not None:
                    raise StreamEnded(f"no {what} (stream: {self.code} {self.details!r})")
                if left <= 0:
                    raise AssertionError(f"no {what} in {timeout} s")
                self._cond.wait(left)

    def answer(self, correlation_id: str, timeout: float = 10.0) -> pb.SessionResponse:
        self.wait(lambda: correlation_id in self.answers, timeout, f"answer to {correlation_id}")
        return self.answers[correlation_id][0]

    def ok(self, correlation_id: str | None = None, **call: Any) -> Any:
        """Call and wait: the answer's result, which must not be an error."""
        got = self.answer(self.send(correlation_id, **call))
        kind = got.WhichOneof("result")
        assert kind is not None and kind != "error", f"{call}: {got.error}"
        return getattr(got, kind)

    def error(self, correlation_id: str | None = None, **call: Any) -> pb.SessionError:
        got = self.answer(self.send(correlation_id, **call))
        assert got.WhichOneof("result") == "error", got
        return got.error

    def event(self, timeout: float = 10.0, **match: Any) -> pb.SessionResponse:
        """The first event whose AssignmentEvent fields have these values."""

        def found() -> pb.SessionResponse | None:
            for e in self.events:
                if all(getattr(e.event, k) == v for k, v in match.items()):
                    return e
            return None

        self.wait(lambda: found() is not None, timeout, f"event {match}")
        got = found()
        assert got is not None
        return got

    def close(self, timeout: float = 10.0) -> grpc.StatusCode | None:
        """Half-close, and the stream's status once it ended."""
        self._requests.put(None)
        self._thread.join(timeout)
        return self.code

    def cancel(self) -> None:
        self.call.cancel()
        self._requests.put(None)
        self._thread.join(5)
