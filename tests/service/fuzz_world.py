"""The server under the fuzz suite: calls made (as messages, raw bytes, or hand-written
HTTP/2), what each left, the errors logged, and a watch stream beside them."""

from __future__ import annotations

import dataclasses
import logging
import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass
from urllib.parse import unquote

import grpc
import h2.config
import h2.connection
import h2.events
import redis
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cim_router._pb import router_pb2 as pb
from cim_router.service.metadata import REQUEST_HEADER, TENANT_HEADER
from cim_router.store.keys import Keys
from tests.redis_server import drop_prefix, redis_url
from tests.service.conftest import start_server, wait_for
from tests.service.fuzz_checks import (
    LIMITS,
    NOT_FOUND,
    OK,
    POLICY,
    Metadata,
    Snap,
    _text,
    check_consistent,
    steady_interaction,
)
from tests.service.steady import steady, window_starts
from tests.service.test_bad_input import (
    METHODS,
    SERVICE,
)

# --- the server under test -------------------------------------------------------------------


@dataclass
class Reply:
    code: grpc.StatusCode
    details: str
    body: bytes | None = None  # a unary call's answer


# The calls a Session makes: the unary RPC -> its field in SessionRequest's `call`.
SESSION_FIELDS = {
    f.message_type.name.removesuffix("Request"): f
    for f in pb.SessionRequest.DESCRIPTOR.oneofs_by_name["call"].fields
    if f.message_type is not None and f.name != "subscribe"
}


def _length_delimited(number: int, payload: bytes) -> bytes:
    out = bytearray()
    for n in (number << 3 | 2, len(payload)):
        while True:
            out.append(n & 0x7F | (0x80 if n > 0x7F else 0))
            n >>= 7
            if not n:
                break
    return bytes(out) + payload


@dataclass
class Recorded:
    """A call made with a request id, to retry or reuse the id later."""

    request_id: str
    tenant: str
    metadata: Metadata
    method: str
    body: bytes
    digest: bytes
    code: grpc.StatusCode
    changed: bool
    reply: bytes | None
    timeout: float | None


def raw_call(
    port: int, method: str, body: bytes, metadata: Metadata, timeout: float | None
) -> Reply:
    """A call over HTTP/2 written by hand, for header values (control characters, bytes
    that are not UTF-8) that grpc's own client refuses to send."""
    config = h2.config.H2Configuration(
        client_side=True,
        header_encoding=None,
        validate_outbound_headers=False,
        normalize_outbound_headers=False,
    )
    conn = h2.connection.H2Connection(config)
    headers = [
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":path", f"/{SERVICE.full_name}/{method}".encode()),
        (b":authority", b"localhost"),
        (b"content-type", b"application/grpc"),
        (b"te", b"trailers"),
    ]
    if timeout is not None:
        headers.append((b"grpc-timeout", f"{max(1, int(timeout * 1000))}m".encode()))
    headers += [(k.encode(), v if isinstance(v, bytes) else v.encode()) for k, v in metadata]
    found: dict[bytes, bytes] = {}
    data = b""
    ended = False

    def receive(sock: socket.socket) -> None:
        nonlocal data, ended
        chunk = sock.recv(65536)
        assert chunk, f"{method}: the server closed the connection"
        for event in conn.receive_data(chunk):
            if isinstance(event, h2.events.ResponseReceived | h2.events.TrailersReceived):
                found.update((bytes(k), bytes(v)) for k, v in event.headers)
            elif isinstance(event, h2.events.DataReceived):
                data += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, stream)
            elif isinstance(event, h2.events.StreamReset | h2.events.ConnectionTerminated):
                raise AssertionError(f"{method}: the server reset the call: {event}")
            ended = ended or isinstance(event, h2.events.StreamEnded)
        sock.sendall(conn.data_to_send())

    with socket.create_connection(("127.0.0.1", port), timeout=(timeout or 5.0) + 5) as sock:
        conn.initiate_connection()
        stream = conn.get_next_available_stream_id()
        conn.send_headers(stream, headers)
        sock.sendall(conn.data_to_send())
        frame = b"\x00" + struct.pack(">I", len(body)) + body
        while frame:  # as much as the server's flow-control window takes at a time
            room = min(conn.local_flow_control_window(stream), conn.max_outbound_frame_size)
            if room <= 0:
                receive(sock)
                continue
            conn.send_data(stream, frame[:room], end_stream=len(frame) <= room)
            frame = frame[room:]
            sock.sendall(conn.data_to_send())
        while not ended:
            receive(sock)
    code = grpc.StatusCode.UNKNOWN
    for candidate in grpc.StatusCode:
        if str(candidate.value[0]).encode() == found.get(b"grpc-status"):
            code = candidate
    message = unquote(found.get(b"grpc-message", b"").decode())
    answer = data[5:] if code == OK and len(data) >= 5 else None
    return Reply(code, message, answer)


class Errors(logging.Handler):
    """Every error the server logs: none is expected."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.name.startswith("grpc") and message.startswith("Invalid encoding on"):
            return  # grpc's own complaint at a header that is not UTF-8, before the router
        self.records.append(f"{record.name}: {message} {record.exc_text or ''}")


class World:
    """The server, its Redis, and what the run has done to it, across examples."""

    def __init__(self) -> None:
        self.matching = POLICY.matching
        self.running = start_server(POLICY, limits=LIMITS)
        self.settings = self.running.settings
        self.channel = grpc.insecure_channel(self.running.server.address)
        self.redis = redis.Redis.from_url(redis_url())
        self.keys = Keys(self.settings.prefix)
        self.errors = Errors()
        logging.getLogger().addHandler(self.errors)
        self.run_id = "0"
        self.interactions: dict[str, set[str]] = {}  # per tenant: every one enqueued
        self.reset()

    def reset(self) -> None:
        self.requests = 0  # every call: the fuzzed ones, snapshots, health
        self.fuzzed = 0
        self.examples = 0
        self.codes: Counter[tuple[str, str]] = Counter()
        self.tenants: set[str] = self.stored_tenants()  # the tenants that must exist
        self.recorded: list[Recorded] = []  # calls with a request id that changed state
        self.first_failure: str | None = None  # the first failure seen, with its steps
        self.restarts = 0
        self.restart_every = 1  # about one example in this many may restart the server
        self.restart_seconds = 0.0
        self.touched: set[str] = set()  # tenants written since the last restart

    def close(self) -> None:
        logging.getLogger().removeHandler(self.errors)
        self.channel.close()
        self.running.stop()
        self.redis.close()
        drop_prefix(self.settings.prefix)

    def restart(self) -> None:
        """Stop the server and start another on the same Redis state, with the other
        matching mode: each mode loads what the other left."""
        self.channel.close()
        self.running.stop()
        self.matching = "joint" if self.matching == "greedy" else "greedy"
        policy = dataclasses.replace(POLICY, matching=self.matching)
        self.running = start_server(policy, settings=self.settings, limits=LIMITS)
        self.channel = grpc.insecure_channel(self.running.server.address)

    # calls

    def call(
        self,
        method: str,
        body: bytes,
        metadata: Metadata,
        timeout: float | None = 5.0,
        session: bool = False,
    ) -> Reply:
        self.requests += 1
        if session:
            return self._session_call(method, body, metadata, timeout)
        path = f"/{SERVICE.full_name}/{method}"
        if any(isinstance(v, bytes) for _, v in metadata):
            port = self.running.server.port
            return raw_call(port, method, body, metadata, timeout)
        try:
            if METHODS[method].server_streaming:
                stream = self.channel.unary_stream(path, None, None)
                for _ in stream(body, timeout=timeout, metadata=metadata):
                    pass
                return Reply(OK, "")
            unary = self.channel.unary_unary(path, None, None)
            if timeout is None:  # no deadline: bounded here instead
                future = unary.future(body, timeout=None, metadata=metadata)
                try:
                    return Reply(OK, "", future.result(timeout=10))
                except grpc.FutureTimeoutError:
                    future.cancel()  # type: ignore[no-untyped-call]
                    raise AssertionError(f"{method} without a deadline did not answer") from None
            return Reply(OK, "", unary(body, timeout=timeout, metadata=metadata))
        except grpc.RpcError as exc:
            return Reply(exc.code(), exc.details() or "")

    def _session_call(
        self, method: str, body: bytes, metadata: Metadata, timeout: float | None
    ) -> Reply:
        """The call sent over a Session instead, as the one call of a stream: its request id
        (the header's) in the envelope, `body` as it is (bytes that are no message too) in
        the call's field; the answer as the unary call's Reply."""
        request_ids = [v for k, v in metadata if k == REQUEST_HEADER]
        rest = tuple((k, v) for k, v in metadata if k != REQUEST_HEADER)
        field = SESSION_FIELDS[method]
        envelope = pb.SessionRequest(correlation_id="s", request_id=str(*request_ids or ("",)))
        raw = envelope.SerializeToString() + _length_delimited(field.number, body)
        stream = self.channel.stream_stream(f"/{SERVICE.full_name}/Session", None, None)
        try:
            for b in stream(iter([raw]), timeout=timeout or 5.0, metadata=rest):
                answer = pb.SessionResponse.FromString(b)
                kind = answer.WhichOneof("result")
                if kind == "event":
                    continue
                if kind == "error":
                    code = next(c for c in grpc.StatusCode if c.value[0] == answer.error.code)
                    return Reply(code, answer.error.message)
                assert kind == field.name, f"{method} answered with {kind}"
                return Reply(OK, "", getattr(answer, kind).SerializeToString())
        except grpc.RpcError as exc:
            return Reply(exc.code(), exc.details() or "")
        raise AssertionError(f"a Session ended without answering its {method}")

    def read(self, method: str, request: Message, tenant: str) -> bytes | None:
        """A read that must answer (None for NOT_FOUND)."""
        reply = self.call(method, request.SerializeToString(), ((TENANT_HEADER, tenant),))
        if reply.code == NOT_FOUND:
            return None
        assert reply.code == OK and reply.body is not None, f"{method}: {reply}"
        return reply.body

    def write(self, method: str, request: Message, tenant: str) -> bytes:
        """A write that must succeed."""
        body = request.SerializeToString()
        reply = self.call(method, body, ((TENANT_HEADER, tenant),))
        assert reply.code == OK and reply.body is not None, f"{method} {_text(request)}: {reply}"
        return reply.body

    def snapshot(self, tenant: str, check: bool = True) -> Snap:
        agents: dict[str, pb.Agent] = {}
        token = ""
        while True:
            body = self.read("ListAgents", pb.ListAgentsRequest(page_token=token), tenant)
            assert body is not None
            page = pb.ListAgentsResponse.FromString(body)
            agents.update((a.id, a) for a in page.agents)
            token = page.next_page_token
            if not token:
                break
        assert list(agents) == sorted(agents), f"{tenant}: agents out of order"
        found: dict[str, pb.Interaction | None] = {}
        for iid in sorted(self.interactions.get(tenant, ())):
            got = self.read("GetInteraction", pb.GetInteractionRequest(interaction_id=iid), tenant)
            found[iid] = None if got is None else steady_interaction(pb.Interaction.FromString(got))
        body = self.read("GetStats", pb.GetStatsRequest(), tenant)
        assert body is not None
        stats = pb.Stats.FromString(body)
        starts = window_starts(stats)
        steady(stats)
        body = self.read("ListQueues", pb.ListQueuesRequest(), tenant)
        assert body is not None
        listed = pb.ListQueuesResponse.FromString(body).queues
        snap = Snap(agents, found, stats, {s.queue.id: s.queue for s in listed}, starts)
        if check:
            check_consistent(tenant, snap)
        return snap

    def serving(self) -> bool:
        self.requests += 1
        stub = health_pb2_grpc.HealthStub(self.channel)
        answer = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)

    def stored_tenants(self) -> set[str]:
        members: set[bytes] = self.redis.smembers(self.keys.tenants())  # type: ignore[assignment]
        return {m.decode() for m in members}

    def live_tenants(self) -> set[str]:
        return {r.tenant for r in self.running.server.tenants.routers()}

    def settle(self, tenant: str) -> None:
        """Accept every open offer, until none is left (an accept may free an agent for
        another offer)."""
        for _ in range(1000):
            offered = [
                (iid, i.offer.agent_id)
                for iid, i in self.snapshot(tenant).present().items()
                if i.HasField("offer")
            ]
            if not offered:
                return
            for iid, agent_id in offered:
                self.write(
                    "Accept", pb.AcceptRequest(interaction_id=iid, agent_id=agent_id), tenant
                )
        raise AssertionError(f"{tenant}: offers keep coming")


class Watch:
    """A WatchAssignments stream open in the background while an example runs."""

    def __init__(self, world: World, tenant: str, offered: int = 0) -> None:
        self.offered = offered  # offers made in the tenant before the stream opened
        path = f"/{SERVICE.full_name}/WatchAssignments"
        call = world.channel.unary_stream(path, None, None)
        body = pb.WatchAssignmentsRequest().SerializeToString()
        self.stream = call(body, timeout=600, metadata=((TENANT_HEADER, tenant),))
        self.events: list[pb.AssignmentEvent] = []
        self.code: grpc.StatusCode | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for raw in self.stream:
                self.events.append(pb.AssignmentEvent.FromString(raw))
        except grpc.RpcError as exc:
            self.code = exc.code()

    def offers(self) -> int:
        return sum(1 for e in self.events if e.type == pb.ASSIGNMENT_EVENT_TYPE_OFFERED)

    def close(self) -> grpc.StatusCode | None:
        self.stream.cancel()  # type: ignore[no-untyped-call]
        self.thread.join(5)
        return self.code

    def check_and_close(self, snap: Snap) -> None:
        """The stream saw every offer made while it was open, once, and nothing else
        went wrong with it."""
        offered = snap.stats.offered - self.offered
        wait_for(lambda: self.offers() >= offered, 5, "the offers on the watch stream")
        code = self.close()
        assert code == grpc.StatusCode.CANCELLED, f"the watch stream ended with {code}"
        assert self.offers() == offered, f"{self.offers()} offers watched, {offered} made"
        for event in self.events:
            assert event.type in (1, 2, 3, 4) and event.agent_id, _text(event)
            assert event.interaction.id in snap.interactions, _text(event)
