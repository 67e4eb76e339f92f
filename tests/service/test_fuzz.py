"""A live server driven by a stateful property test through every RPC of the Router service
(from its descriptor, the watch stream included): well-formed requests built from what
exists, so that interactions are offered, accepted, rejected, transferred, escalated and
completed; the same with one field given any value of its type; random messages; bytes
that are no message (random, cut short, a byte changed, a string that is not UTF-8); odd
metadata (the tenant header missing, doubled, empty, too long, unprintable, naming a new
tenant or two; request ids fresh, doubled, empty, too long, unprintable, retried, reused;
header bytes grpc's client will not send go over HTTP/2 by hand); and restarts with offers
in flight. One example is a sequence of steps on tenants of its own.

After every request: no UNKNOWN or INTERNAL; INVALID_ARGUMENT names a field of the request
(the path walked through its descriptor), a header, or `request` for undecodable bytes; a
refusal, and any read, leaves the tenant as it was (agents, every interaction used with
its history, stats); an answer agrees with the state it leaves; the state is consistent
(loads match what agents hold and are offered, within capacity; a named transfer is
offered to its agent only); the tenant set grows only by a write that succeeded; a retry
with a request id changes nothing, and a reused one is ALREADY_EXISTS; no error is logged;
the server stays SERVING. After a restart every tenant loads whole and reads back the
same but for the offers it withdrew; at the end every offer is accepted and a restart
reads back exactly the same.

`pytest -m slow tests/service/test_fuzz.py -s` runs the long variant. Each run prints its
seed and its counts; `CIM_FUZZ_SEED=<seed>` replays a run, and a failure reports the first
step that failed with every request before it in its example.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import logging
import os
import random
import re
import socket
import struct
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote

import grpc
import h2.config
import h2.connection
import h2.events
import pytest
import redis
from google.protobuf import text_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, Phase, note, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from cim_router._pb import router_pb2 as pb
from cim_router.domain.channel import Channel
from cim_router.service.convert import digest, page_token_in, page_token_out
from cim_router.service.errors import InvalidArgument
from cim_router.service.metadata import REQUEST_HEADER, TENANT_HEADER
from cim_router.service.tenants import TenantLimits
from cim_router.store.keys import Keys
from tests.redis_server import drop_prefix, redis_url
from tests.service.conftest import fast_policy, start_server, wait_for
from tests.service.test_bad_input import (
    AGENTS,
    INTERACTIONS,
    METHODS,
    SERVICE,
    field_values,
    messages,
    wire,
)
from tests.service.test_bad_input import _make as make_message

OK = grpc.StatusCode.OK
INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
ALREADY_EXISTS = grpc.StatusCode.ALREADY_EXISTS
DEADLINE = grpc.StatusCode.DEADLINE_EXCEEDED
ALLOWED = {
    OK,
    INVALID,
    NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    ALREADY_EXISTS,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
}
# Calls that read: they change nothing, whatever they answer.
READS = frozenset({"GetAgent", "ListAgents", "GetInteraction", "Explain", "GetStats"})
# Writes that may create their tenant; every other call needs one that exists.
CREATORS = frozenset({"UpsertAgent", "Enqueue"})
AGENT_REPLIES = frozenset({"UpsertAgent", "SetAgentState", "GetAgent"})
INTERACTION_REPLIES = frozenset(
    {"Accept", "Reject", "Complete", "Cancel", "Transfer", "Escalate", "CancelTransfer"}
    | {"UpdateContext"}
)

AGENT_POOL = (*AGENTS, "a3")
INTERACTION_POOL = (*INTERACTIONS, "i4", "i5", "i6")
SKILLS = ("billing", "tech", "sales")
CUSTOMERS = ("cust-1", "cust-2")
CHANNELS = (pb.CHANNEL_CHAT, pb.CHANNEL_EMAIL, pb.CHANNEL_VOICE, pb.CHANNEL_SMS)
SETTABLE = (pb.AGENT_STATE_OFFLINE, pb.AGENT_STATE_AVAILABLE, pb.AGENT_STATE_NOT_READY)
OPEN = (
    pb.INTERACTION_STATE_QUEUED,
    pb.INTERACTION_STATE_OFFERED,
    pb.INTERACTION_STATE_ASSIGNED,
)

HOUR = 3600.0
# Nothing time-driven may change state between two snapshots: offers, wrap-ups and
# exclusions outlast the run, and nothing relaxes. SMS has no wrap-up, so that Complete
# also closes an interaction at once.
POLICY = fast_policy(
    offer_timeout_seconds=HOUR,
    wrap_up_seconds={**dict.fromkeys(Channel, HOUR), Channel.SMS: 0.0},
    exclusion_seconds=HOUR,
    relaxation=(),
)
# One watch stream and one waiting Assign per tenant, so that the caps are reached too.
LIMITS = TenantLimits(max_watch_streams=1, max_parked_assigns=1)
# Header values grpc's client refuses to send (sent over HTTP/2 by hand): control
# characters, and a byte that is no character at all once decoded as Latin-1.
UNPRINTABLE = (b"a\x01b", b"\x00", b"tab\there", b"del\x7f", b"c1\x80")
WATCH_SECONDS = 0.05  # a watch step's stream is ended by its deadline
WAIT_SECONDS = 0.15  # the deadline of an Assign that waits

Metadata = tuple[tuple[str, str | bytes], ...]  # bytes: what no grpc client sends
PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink, Phase.explain)


# --- what the server holds -----------------------------------------------------------------


def _bytes(message: Message) -> bytes:
    return message.SerializeToString(deterministic=True)


def _without_history(interaction: pb.Interaction) -> pb.Interaction:
    out = pb.Interaction()
    out.CopyFrom(interaction)
    out.ClearField("history")
    return out


@dataclass
class Snap:
    """A tenant as its reads show it: every agent (all pages), every interaction the run
    used (None if not found), the stats without their clock-driven fields."""

    agents: dict[str, pb.Agent]
    interactions: dict[str, pb.Interaction | None]
    stats: pb.Stats

    def key(self) -> tuple[object, ...]:
        return (
            tuple((k, _bytes(a)) for k, a in self.agents.items()),
            tuple((k, None if i is None else _bytes(i)) for k, i in self.interactions.items()),
            _bytes(self.stats),
        )

    def same(self, other: Snap) -> bool:
        return self.key() == other.key()

    def diff(self, other: Snap) -> str:
        """What differs from `other`, readably."""
        lines: list[str] = []
        for agent_id in sorted(set(self.agents) | set(other.agents)):
            a, b = self.agents.get(agent_id), other.agents.get(agent_id)
            if a is None or b is None or _bytes(a) != _bytes(b):
                lines.append(f"agent {agent_id!r}:\n  {_text(a)}\n  -> {_text(b)}")
        for iid in sorted(set(self.interactions) | set(other.interactions)):
            x, y = self.interactions.get(iid), other.interactions.get(iid)
            if (x is None) != (y is None) or (x and y and _bytes(x) != _bytes(y)):
                lines.append(f"interaction {iid!r}:\n  {_text(x)}\n  -> {_text(y)}")
        if _bytes(self.stats) != _bytes(other.stats):
            lines.append(f"stats:\n  {_text(self.stats)}\n  -> {_text(other.stats)}")
        return "\n".join(lines)

    def present(self) -> dict[str, pb.Interaction]:
        return {k: v for k, v in self.interactions.items() if v is not None}


def _text(message: Message | None) -> str:
    return "absent" if message is None else text_format.MessageToString(message, as_one_line=True)


def check_consistent(tenant: str, snap: Snap) -> None:
    """What must hold of any state: every agent's load is what it holds and is offered,
    within capacity; records agree with their state; the stats count what is there."""
    found = snap.present()
    expected: dict[str, Counter[int]] = {a: Counter() for a in snap.agents}
    for iid, i in found.items():
        where = f"{tenant}: interaction {iid!r} {_text(i)}"
        has_offer = i.HasField("offer")
        has_transfer = i.HasField("transfer")
        if i.state == pb.INTERACTION_STATE_QUEUED:
            assert not has_offer and not has_transfer and not i.agent_id, where
        elif i.state == pb.INTERACTION_STATE_OFFERED:
            assert has_offer and not i.offer.transfer and not has_transfer, where
            assert not i.agent_id, where
        elif i.state == pb.INTERACTION_STATE_ASSIGNED:
            assert i.agent_id in snap.agents, where
            assert not has_offer or (has_transfer and i.offer.transfer), where
            expected[i.agent_id][i.channel] += 1
        else:
            assert not has_offer and not has_transfer, where
        if has_offer:
            assert i.offer.agent_id in snap.agents, where
            assert i.offer.agent_id != i.agent_id, where
            # A transfer to a named agent is offered to that agent, or to no one.
            assert not has_transfer or i.transfer.agent_id in ("", i.offer.agent_id), where
            expected[i.offer.agent_id][i.offer.channel] += 1
    by_state: Counter[int] = Counter()
    for agent_id, agent in snap.agents.items():
        load = {c.channel: c.count for c in agent.load}
        capacity = {c.channel: c.count for c in agent.capacity}
        assert load == dict(expected[agent_id]), f"{tenant}: load of {_text(agent)}"
        for channel, n in load.items():
            assert n <= capacity.get(channel, 0), f"{tenant}: over capacity: {_text(agent)}"
        assert not load or agent.state != pb.AGENT_STATE_OFFLINE, f"{tenant}: {_text(agent)}"
        by_state[agent.state] += 1
    stats = snap.stats
    queued = [i for i in found.values() if i.state == pb.INTERACTION_STATE_QUEUED]
    assert stats.waiting == len(queued), f"{tenant}: {_text(stats)}"
    by_channel = Counter(i.channel for i in queued)
    assert {c.channel: c.count for c in stats.waiting_by_channel} == by_channel, tenant
    by_skill = Counter(r.skill for i in queued for r in i.required_skills)
    assert {c.skill: c.count for c in stats.waiting_by_skill} == by_skill, tenant
    assert {c.state: c.count for c in stats.agents_by_state} == dict(by_state), tenant
    assert stats.quarantined == 0, f"{tenant}: {_text(stats)}"


# --- INVALID_ARGUMENT names a field ----------------------------------------------------------

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INDEX = re.compile(r"\[(\d+)\]")
_KEY = re.compile(r"""\[('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")(\.\.\.)?\]""")


def check_names_a_field(method: MethodDescriptor, request: Message, details: str) -> None:
    """`PATH: reason`, PATH a field of the request as it spells it, walked through the
    request: `skills.required_skills[2].min_level`, `capacity[1].count`, `skills['x']`,
    `context.a.b` (a context's path is the client's JSON), a oneof (`target`)."""
    if details.startswith((f"{TENANT_HEADER}: ", f"{REQUEST_HEADER}: ")):
        return
    where = f"{method.name}: {details!r}"
    assert not details.startswith("request:"), f"{where}: but the request decodes"
    descriptor: Descriptor = method.input_type
    message: Any = request
    pos = 0
    while True:
        found = _NAME.match(details, pos)
        assert found, f"{where}: no field name at {pos}"
        name, pos = found.group(), found.end()
        field_ = descriptor.fields_by_name.get(name)
        if field_ is None:
            assert name in descriptor.oneofs_by_name, f"{where}: {name!r} is no field"
            assert details.startswith(": ", pos), where
            return
        value = getattr(message, name)
        sub = field_.message_type
        if sub is not None and sub.full_name == "google.protobuf.Struct":
            return  # the rest is a path in the client's JSON
        if sub is not None and sub.GetOptions().map_entry:
            key = _KEY.match(details, pos)
            if key:
                literal, cut = ast.literal_eval(key.group(1)), key.group(2)
                assert any(k.startswith(literal) if cut else k == literal for k in value), where
                pos = key.end()
            assert details.startswith(": ", pos), where
            return
        if field_.is_repeated:
            index = _INDEX.match(details, pos)
            if index:
                n = int(index.group(1))
                assert n < len(value), f"{where}: [{n}] is past the {len(value)} given"
                value, pos = value[n], index.end()
            elif details.startswith(": ", pos):
                return
            else:
                raise AssertionError(f"{where}: a list needs an index or ': '")
        if details.startswith(": ", pos):
            return
        assert sub is not None and details.startswith(".", pos), where
        descriptor, message, pos = sub, value, pos + 1


# --- the server under test -------------------------------------------------------------------


@dataclass
class Reply:
    code: grpc.StatusCode
    details: str
    body: bytes | None = None  # a unary call's answer


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
        self, method: str, body: bytes, metadata: Metadata, timeout: float | None = 5.0
    ) -> Reply:
        self.requests += 1
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
            found[iid] = None if got is None else pb.Interaction.FromString(got)
        body = self.read("GetStats", pb.GetStatsRequest(), tenant)
        assert body is not None
        stats = pb.Stats.FromString(body)
        stats.ClearField("at")
        stats.ClearField("longest_wait_seconds")
        snap = Snap(agents, found, stats)
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


# --- well-formed requests, built from what exists ----------------------------------------------

Build = tuple[str, Message]
Draw = Callable[..., Any]


def _requirements(draw: Draw, most: int = 2) -> list[pb.SkillRequirement]:
    skills = draw(st.lists(st.sampled_from(SKILLS), unique=True, max_size=most))
    return [pb.SkillRequirement(skill=s, min_level=draw(st.integers(0, 6))) for s in skills]


def _context(draw: Draw) -> dict[str, Any]:
    values = st.one_of(st.integers(-3, 3), st.text(max_size=4), st.booleans(), st.none())
    result: dict[str, Any] = draw(
        st.dictionaries(st.sampled_from(("a", "b", "order", "lang")), values, max_size=2)
    )
    return result


class Builder:
    """Requests that are right for the state a snapshot shows (mostly: some go to the wrong
    agent or an id that does not exist, as clients do)."""

    def __init__(self, draw: Draw, snap: Snap, machine: FuzzMachine, tenant: str) -> None:
        self.draw = draw
        self.snap = snap
        self.machine = machine
        self.tenant = tenant
        self.interactions = snap.present()

    def pick(self, items: list[str] | tuple[str, ...]) -> str:
        value: str = self.draw(st.sampled_from(sorted(items)))
        return value

    def agent_id(self) -> str:
        return self.pick(tuple(self.snap.agents) or AGENT_POOL)

    def interaction_id(self, *states: int) -> str | None:
        ids = [k for k, i in self.interactions.items() if not states or i.state in states]
        return self.pick(ids) if ids else None

    def build(self) -> tuple[Build, float]:
        """A request and its deadline."""
        found = self.interactions.values()
        states = {i.state for i in found}
        any_ = bool(found)
        offered = any(i.HasField("offer") for i in found)
        transferring = any(i.HasField("transfer") for i in found)
        assigned = pb.INTERACTION_STATE_ASSIGNED in states
        held = assigned or pb.INTERACTION_STATE_WRAP_UP in states
        open_ = bool(states & set(OPEN))
        options: list[tuple[int, bool, Callable[[], Build | None]]] = [
            (3, True, self.upsert_agent),
            (2, True, self.set_agent_state),
            (1, True, self.get_agent),
            (1, True, self.list_agents),
            (1, True, self.remove_agent),
            (4, True, self.enqueue),
            (2, True, self.assign_agent),
            (1, any_, self.assign_interaction),
            (12, offered, self.accept),
            (3, offered, self.reject),
            (6, held, self.complete),
            (1, any_, self.cancel),
            (10, assigned, self.transfer),
            (3, open_, self.escalate),
            (10, transferring, self.cancel_transfer),
            (1, True, self.get_interaction),
            (2, any_, self.update_context),
            (1, True, self.explain),
            (1, True, self.get_stats),
            (1, True, self.watch),
        ]
        weighted = [make for weight, ok, make in options if ok for _ in range(weight)]
        made = self.draw(st.sampled_from(weighted))()
        assert made is not None
        method, request = made
        timeout = 5.0
        if method == "WatchAssignments":
            timeout = WATCH_SECONDS
        elif method == "Assign" and getattr(request, "wait", False):
            timeout = self.draw(st.sampled_from((WAIT_SECONDS,) * 5 + (0.0,)))
        return made, timeout

    # agents

    def upsert_agent(self) -> Build:
        draw = self.draw
        channels = draw(st.lists(st.sampled_from(CHANNELS), unique=True, max_size=2))
        return "UpsertAgent", pb.UpsertAgentRequest(
            agent_id=self.pick(AGENT_POOL + tuple(self.snap.agents)),
            display_name=draw(st.sampled_from(("", "Ann", "Bob"))),
            skills=draw(
                st.one_of(
                    st.fixed_dictionaries({s: st.integers(4, 10) for s in SKILLS}),
                    st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 10), max_size=3),
                )
            ),
            tier=draw(st.integers(0, 5)),
            capacity=[
                pb.ChannelCount(channel=c, count=draw(st.sampled_from((0, 1, 2, 3, 3))))
                for c in channels
            ],
            state=draw(st.sampled_from((pb.AGENT_STATE_UNSPECIFIED, *SETTABLE, SETTABLE[1]))),
        )

    def set_agent_state(self) -> Build:
        return "SetAgentState", pb.SetAgentStateRequest(
            agent_id=self.agent_id(),
            state=self.draw(st.sampled_from(SETTABLE)),
            reason=self.draw(st.sampled_from(("", "lunch"))),
        )

    def get_agent(self) -> Build:
        return "GetAgent", pb.GetAgentRequest(agent_id=self.agent_id())

    def list_agents(self) -> Build:
        draw = self.draw
        tokens = ["", self.machine.tokens.get(self.tenant, "")]
        tokens += [page_token_out(a) for a in (*self.snap.agents, "a", "zz")]
        return "ListAgents", pb.ListAgentsRequest(
            state=draw(st.sampled_from((pb.AGENT_STATE_UNSPECIFIED, *SETTABLE))),
            page_size=draw(st.sampled_from((0, 1, 2, 3))),
            page_token=self.pick(tokens),
        )

    def remove_agent(self) -> Build:
        return "RemoveAgent", pb.RemoveAgentRequest(agent_id=self.agent_id())

    # interactions

    def enqueue(self) -> Build:
        draw = self.draw
        iid = self.pick(INTERACTION_POOL)
        earlier = self.machine.enqueued.get((self.tenant, iid))
        if earlier is not None and draw(st.booleans()):
            return "Enqueue", earlier  # the same request again: idempotent
        request = pb.EnqueueRequest(
            interaction_id=iid,
            customer_id=draw(st.sampled_from(("", *CUSTOMERS))),
            channel=draw(st.sampled_from(CHANNELS)),
            required_skills=_requirements(draw),
            preferred_skills=_requirements(draw, 1),
            priority=draw(st.sampled_from((0, 5, 100))),
            customer_tier=draw(st.sampled_from(("", "standard", "gold", "vip"))),
            sla_seconds=draw(st.sampled_from((0.0, 30.0, 600.0))),
            preferred_agent_id=draw(st.sampled_from(("", *AGENT_POOL[:2]))),
        )
        request.context.update(_context(draw))
        return "Enqueue", request

    def assign_agent(self) -> Build:
        wait = self.draw(st.sampled_from((False, False, False, True)))
        return "Assign", pb.AssignRequest(agent_id=self.agent_id(), wait=wait)

    def assign_interaction(self) -> Build | None:
        iid = self.interaction_id()
        if iid is None:
            return None
        wait = self.draw(st.sampled_from((False, False, False, True)))
        return "Assign", pb.AssignRequest(interaction_id=iid, wait=wait)

    def _offered(self) -> tuple[str, str] | None:
        ids = [k for k, i in self.interactions.items() if i.HasField("offer")]
        if not ids:
            return None
        iid = self.pick(ids)
        agent_id = self.interactions[iid].offer.agent_id
        if self.draw(st.integers(0, 9)) == 0:  # the wrong agent
            agent_id = self.agent_id()
        return iid, agent_id

    def accept(self) -> Build | None:
        found = self._offered()
        if found is None:
            return None
        return "Accept", pb.AcceptRequest(interaction_id=found[0], agent_id=found[1])

    def reject(self) -> Build | None:
        found = self._offered()
        if found is None:
            return None
        reason = self.draw(st.sampled_from(("", "busy")))
        return "Reject", pb.RejectRequest(interaction_id=found[0], agent_id=found[1], reason=reason)

    def complete(self) -> Build | None:
        iid = self.interaction_id(pb.INTERACTION_STATE_ASSIGNED, pb.INTERACTION_STATE_WRAP_UP)
        if iid is None:
            return None
        holder = self.interactions[iid].agent_id
        return "Complete", pb.CompleteRequest(
            interaction_id=iid,
            agent_id=self.draw(st.sampled_from((holder, holder, "", self.agent_id()))),
            disposition=self.draw(st.sampled_from(("", "resolved"))),
            csat=self.draw(st.integers(0, 5)),
        )

    def cancel(self) -> Build | None:
        iid = self.interaction_id()
        if iid is None:
            return None
        return "Cancel", pb.CancelRequest(interaction_id=iid, reason="gone")

    def transfer(self) -> Build | None:
        draw = self.draw
        iid = self.interaction_id(pb.INTERACTION_STATE_ASSIGNED)
        if iid is None:
            return None
        request = pb.TransferRequest(
            interaction_id=iid,
            mode=draw(st.sampled_from((pb.TRANSFER_MODE_WARM, pb.TRANSFER_MODE_COLD))),
            channel=draw(st.sampled_from((pb.CHANNEL_UNSPECIFIED,) * 3 + CHANNELS)),
            reason=draw(st.sampled_from(("", "billing question"))),
        )
        target = draw(st.sampled_from(("agent_id", "agent_id", "skills", "queue")))
        if target == "agent_id":
            request.agent_id = self.agent_id()
            request.ignore_skills = draw(st.booleans())
        elif target == "skills":
            request.skills.required_skills.extend(_requirements(draw) or _requirements(draw, 1))
            if not request.skills.required_skills:
                request.skills.required_skills.add(skill="billing")
        else:
            request.queue.SetInParent()
        return "Transfer", request

    def escalate(self) -> Build | None:
        iid = self.interaction_id(*OPEN)
        if iid is None:
            return None
        return "Escalate", pb.EscalateRequest(interaction_id=iid, reason="angry")

    def cancel_transfer(self) -> Build | None:
        ids = [k for k, i in self.interactions.items() if i.HasField("transfer")]
        if not ids:
            return None
        iid = self.pick(ids)
        holder = self.interactions[iid].agent_id
        agent_id = self.draw(st.sampled_from((holder, "", self.agent_id())))
        return "CancelTransfer", pb.CancelTransferRequest(interaction_id=iid, agent_id=agent_id)

    def get_interaction(self) -> Build:
        iid = self.interaction_id() or self.pick(INTERACTION_POOL)
        return "GetInteraction", pb.GetInteractionRequest(interaction_id=iid)

    def update_context(self) -> Build | None:
        iid = self.interaction_id()
        if iid is None:
            return None
        keys = sorted(self.interactions[iid].context.fields)
        request = pb.UpdateContextRequest(
            interaction_id=iid,
            remove_keys=self.draw(st.lists(st.sampled_from(keys), max_size=2)) if keys else [],
        )
        request.context.update(_context(self.draw))
        return "UpdateContext", request

    def explain(self) -> Build:
        iid = self.interaction_id() or self.pick(INTERACTION_POOL)
        return "Explain", pb.ExplainRequest(interaction_id=iid)

    def get_stats(self) -> Build:
        return "GetStats", pb.GetStatsRequest()

    def watch(self) -> Build:
        agents = self.draw(st.lists(st.sampled_from(AGENT_POOL), unique=True, max_size=2))
        return "WatchAssignments", pb.WatchAssignmentsRequest(agent_ids=agents)


def _set_field(message: Message, field_: FieldDescriptor, value: Any) -> None:
    """Give one field of `message` a value `field_values` drew for it."""
    name = field_.name
    sub = field_.message_type
    if sub is not None and sub.GetOptions().map_entry:
        target: Any = getattr(message, name)
        target.clear()
        target.update(value)
    elif field_.is_repeated:
        del getattr(message, name)[:]
        getattr(message, name).extend(value)
    elif sub is not None:
        getattr(message, name).CopyFrom(value)
    else:
        setattr(message, name, value)


def _decode(method: str, body: bytes) -> Message | None:
    cls: type[Message] = getattr(pb, METHODS[method].input_type.name)
    try:
        return cls.FromString(body)
    except DecodeError:
        return None


def _takes_request_id(method: str, request: Message | None) -> bool:
    """Whether the server reads `x-cim-request-id` for this call."""
    if method in READS or method == "WatchAssignments":
        return False
    if method == "Assign":
        return request is None or request.WhichOneof("target") == "agent_id"
    return True


# --- the state machine ---------------------------------------------------------------------


@dataclass
class Step:
    """One request as sent, and what the server was expected to do with it."""

    method: str
    body: bytes
    metadata: Metadata
    timeout: float | None
    tenant: str | None  # the tenant the call addresses; None when its header is refused
    request_id: str | None = None
    bad_request_id: bool = False
    retry_of: Recorded | None = None  # a retry of this call (same id, same request)
    reuse_of: Recorded | None = None  # the id of this call, with another request


F = TypeVar("F", bound=Callable[..., Any])


def first_failure(method: F) -> F:
    """Keep the first failure of the run with the steps that led to it: a replay on a server
    that has moved on may fail otherwise, or not at all."""

    @functools.wraps(method)
    def wrapper(self: FuzzMachine, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # not hypothesis's own StopTest, a BaseException
            self.failed = True
            if self.world.first_failure is None:
                steps = "\n".join(self.transcript)
                self.world.first_failure = (
                    f"example {self.world.examples}, tenant {self.main!r}:\n{steps}\n"
                    + "".join(traceback.format_exception(exc))
                )
            raise

    return wrapper  # type: ignore[return-value]


class FuzzMachine(RuleBasedStateMachine):
    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world
        self.cache: dict[str, Snap] = {}
        self.rids: list[Recorded] = []
        self.tokens: dict[str, str] = {}  # per tenant: the last next_page_token seen
        self.enqueued: dict[tuple[str, str], pb.EnqueueRequest] = {}
        self.watch: Watch | None = None
        self.count = 0
        self.transcript: list[str] = []
        self.failed = False
        self.main = self.other = ""
        self.may_restart = False

    def say(self, text: str) -> None:
        """Note a step, for the report of a failing example."""
        note(text)
        self.transcript.append(text)

    # set-up and tear-down

    @initialize(data=st.data())
    @first_failure
    def seed_tenants(self, data: st.DataObject) -> None:
        world = self.world
        world.examples += 1
        base = f"fz{world.run_id}-{world.examples}"
        odd = data.draw(st.sampled_from(("", "", ":x", "{y}", " s", "%41", "/")), label="odd")
        self.main, self.other = base + odd, base + "-b"
        for tenant in (self.main, self.other):
            world.interactions.setdefault(tenant, set())
        if data.draw(st.booleans(), label="watch"):
            self.watch = Watch(world, self.main)
        # Drawn, not counted: an example draws the same whatever ran before it.
        every = world.restart_every
        self.may_restart = data.draw(st.integers(1, every), label="may restart") == 1
        agents = data.draw(st.lists(st.sampled_from(AGENT_POOL), unique=True, max_size=4))
        agents = agents or ["a1"]
        for agent_id in agents:
            skills = {s: data.draw(st.integers(3, 10)) for s in SKILLS}
            request = pb.UpsertAgentRequest(
                agent_id=agent_id, skills=skills, state=pb.AGENT_STATE_AVAILABLE
            )
            world.write("UpsertAgent", request, self.main)
        ids = data.draw(
            st.lists(st.sampled_from(INTERACTION_POOL), unique=True, min_size=1, max_size=3)
        )
        for iid in ids:
            skill = data.draw(st.sampled_from(SKILLS))
            enqueue = pb.EnqueueRequest(
                interaction_id=iid,
                channel=data.draw(st.sampled_from(CHANNELS)),
                required_skills=[pb.SkillRequirement(skill=skill, min_level=3)],
            )
            world.write("Enqueue", enqueue, self.main)
            world.interactions[self.main].add(iid)
            self.enqueued[(self.main, iid)] = enqueue
        if agents or ids:
            world.tenants.add(self.main)
        if data.draw(st.booleans(), label="accept the offers"):
            for iid, i in world.snapshot(self.main).present().items():
                if i.HasField("offer"):
                    accept = pb.AcceptRequest(interaction_id=iid, agent_id=i.offer.agent_id)
                    world.write("Accept", accept, self.main)
        assert world.stored_tenants() == world.tenants

    @first_failure
    def teardown(self) -> None:
        world = self.world
        if self.failed and self.watch is not None:
            self.watch.close()
        if self.failed:
            return
        if self.watch is not None:
            self.watch.check_and_close(world.snapshot(self.main))
        wait_for(lambda: self.world.live_tenants() == self.world.tenants, 5, "tenants in memory")

    def restart(self) -> None:
        """Restart the server with whatever is in flight, and go on."""
        world = self.world
        self.say("(the server restarts)")
        watching = self.watch is not None
        if self.watch is not None:
            self.watch.check_and_close(world.snapshot(self.main))
            self.watch = None
        touched, world.touched = world.touched, set()
        _restart_with_offers_in_flight(world, touched)
        self.cache.clear()
        if watching:
            self.watch = Watch(world, self.main, world.snapshot(self.main).stats.offered)

    @invariant()
    @first_failure
    def serving(self) -> None:
        assert self.world.serving(), "the server is not SERVING"
        logged, self.world.errors.records = self.world.errors.records, []
        assert not logged, "the server logged errors:\n" + "\n".join(logged)

    # steps

    @rule(data=st.data())
    @first_failure
    def step(self, data: st.DataObject) -> None:
        kind = data.draw(
            st.sampled_from(
                ("valid",) * 20 + ("twisted",) * 4 + ("random",) * 6 + ("retry",) * 2 + ("restart",)
            ),
            label="kind",
        )
        if kind == "restart" and self.may_restart:
            self.restart()
            return
        if kind == "retry" and self.rids:
            entry = data.draw(st.sampled_from(self.rids), label="retry of")
            step = Step(
                entry.method,
                entry.body,
                entry.metadata,
                entry.timeout,
                entry.tenant,
                entry.request_id,
                retry_of=entry,
            )
        else:
            step = self._new_step(data, "valid" if kind in ("retry", "restart") else kind)
        self._run(step)

    def _tenant_header(self, data: st.DataObject) -> tuple[Metadata, str | None]:
        how = data.draw(
            st.sampled_from(
                ("main",) * 24
                + ("other",) * 3
                + ("missing", "new", "twice", "two", "empty", "long", "unprintable")
            ),
            label="tenant header",
        )
        main, other = (TENANT_HEADER, self.main), (TENANT_HEADER, self.other)
        if how == "main":
            return (main,), self.main
        if how == "other":
            return (other,), self.other
        if how == "missing":
            return (), "default"
        if how == "new":
            self.count += 1
            name = f"{self.main}-new{self.count}"
            if data.draw(st.booleans(), label="longest"):
                name = (name + "-" * 128)[:128]
            self.world.interactions.setdefault(name, set())
            return ((TENANT_HEADER, name),), name
        if how == "twice":
            return (main, main), None
        if how == "two":  # an existing tenant and another, maybe new
            second = data.draw(st.sampled_from((self.other, f"{self.main}-new0")), label="and")
            return (main, (TENANT_HEADER, second)), None
        if how == "unprintable":
            return ((TENANT_HEADER, data.draw(st.sampled_from(UNPRINTABLE), label="bytes")),), None
        return ((TENANT_HEADER, "" if how == "empty" else "t" * 129),), None

    def _new_step(self, data: st.DataObject, kind: str) -> Step:
        metadata, tenant = self._tenant_header(data)
        # Built from the state of a tenant of this example only, so that an example draws
        # the same whatever earlier ones did to "default".
        shown = self.main if tenant in (None, "default") else tenant
        snap = self._before(shown)
        timeout: float | None = 5.0
        if kind == "random":
            method = data.draw(st.sampled_from(sorted(METHODS)), label="method")
            kwargs = data.draw(messages(METHODS[method].input_type), label="fields")
            request = make_message(METHODS[method].input_type, kwargs)
            if method == "WatchAssignments":
                timeout = WATCH_SECONDS
            elif method == "Assign":
                timeout = WAIT_SECONDS
        else:
            builder = Builder(data.draw, snap, self, shown)
            (method, request), timeout = builder.build()
            fields: list[FieldDescriptor] = list(METHODS[method].input_type.fields)
            if kind == "twisted" and fields:
                chosen = data.draw(st.sampled_from(fields), label="twisted field")
                _set_field(request, chosen, data.draw(field_values(chosen), label="value"))
        body = data.draw(wire(request, intact=3 if kind == "random" else 20), label="body")
        if timeout == 0.0:
            timeout = None  # a waiting Assign without a deadline: refused at once
        step = Step(method, body, metadata, timeout, tenant)
        self._request_id(data, step)
        return step

    def _request_id(self, data: st.DataObject, step: Step) -> None:
        how = data.draw(
            st.sampled_from(("none",) * 10 + ("fresh",) * 5 + ("reuse",) * 2 + ("twice", "bad")),
            label="request id",
        )
        if how == "none":
            return
        if how == "reuse" and self.rids:
            entry = data.draw(st.sampled_from(self.rids), label="reuse of")
            step.request_id, step.reuse_of = entry.request_id, entry
            step.metadata += ((REQUEST_HEADER, entry.request_id),)
            return
        self.count += 1
        fresh = f"rq-{self.world.run_id}-{self.world.examples}-{self.count}"
        if how == "twice":
            step.metadata += ((REQUEST_HEADER, fresh), (REQUEST_HEADER, fresh))
            step.bad_request_id = True
        elif how == "bad":
            bads: tuple[str | bytes, ...] = ("", "r" * 129, *UNPRINTABLE)
            bad = data.draw(st.sampled_from(bads), label="bad id")
            step.metadata += ((REQUEST_HEADER, bad),)
            step.bad_request_id = True
        else:
            step.request_id = fresh
            step.metadata += ((REQUEST_HEADER, fresh),)

    def _before(self, tenant: str) -> Snap:
        if tenant not in self.cache:
            self.cache[tenant] = self.world.snapshot(tenant)
        return self.cache[tenant]

    def _run(self, step: Step) -> None:
        world = self.world
        method = step.method
        watched = [step.tenant] if step.tenant else [self.main, self.other]
        before = {t: self._before(t) for t in watched}
        decoded = _decode(method, step.body)
        self.say(
            f"{method} {step.metadata!r} timeout={step.timeout} "
            f"{_text(decoded) if decoded is not None else step.body!r}"[:600]
        )
        world.fuzzed += 1
        timeout = step.timeout
        if method == "WatchAssignments" and (step.tenant is None or decoded is None):
            timeout = 5.0  # refused at once; a stream left open would end by its deadline
        reply = world.call(method, step.body, step.metadata, timeout)
        code = reply.code
        world.codes[(method, code.name)] += 1
        self.say(f"-> {code.name} {reply.details!r}"[:600])
        where = f"{method} -> {code.name} {reply.details!r}"

        # The status: a client's mistake is never INTERNAL or UNKNOWN.
        waits = method == "WatchAssignments" or (
            method == "Assign" and decoded is not None and getattr(decoded, "wait", False)
        )
        assert code in ALLOWED or (code == DEADLINE and waits), where
        descriptor = METHODS[method].input_type
        if decoded is None:
            assert code == INVALID, where
            assert reply.details == f"request: cannot be decoded as {descriptor.full_name}", where
        elif code == INVALID:
            check_names_a_field(METHODS[method], decoded, reply.details)
        if step.tenant is None or (step.bad_request_id and _takes_request_id(method, decoded)):
            assert code == INVALID, f"{where}: the metadata is refused"
        if step.timeout is None and getattr(decoded, "wait", False):
            assert code == INVALID, f"{where}: a wait with no deadline"
            assert reply.details.startswith(("wait:", "target:", "agent_id:", "interaction_id:"))

        # Tenants: only a write that succeeded creates one; reads and refusals none.
        if code == OK and method in CREATORS and step.tenant is not None:
            world.tenants.add(step.tenant)
        world.touched.update(watched)
        assert world.stored_tenants() == world.tenants, f"{where}: the tenant set changed"
        if code == OK and method == "Enqueue" and step.tenant is not None:
            assert isinstance(decoded, pb.EnqueueRequest)
            world.interactions.setdefault(step.tenant, set()).add(decoded.interaction_id)
            self.enqueued.setdefault((step.tenant, decoded.interaction_id), decoded)

        # What it did to the tenant(s) it names.
        after = {t: world.snapshot(t) for t in watched}
        changed = any(not before[t].same(after[t]) for t in watched)
        applied = code == OK and method not in READS and method != "WatchAssignments"
        unknown = code == DEADLINE and method == "Assign"  # it may have been applied
        if not applied and not unknown:
            for t in watched:
                assert before[t].same(after[t]), (
                    f"{where}: changed {t!r}:\n{before[t].diff(after[t])}"
                )
        if code != OK and method == "Enqueue" and isinstance(decoded, pb.EnqueueRequest):
            self._check_not_created(step, decoded)
        original = step.retry_of or step.reuse_of
        replayed = (
            original is not None
            and decoded is not None
            and original.code == OK
            and original.changed
            and (step.tenant, step.method) == (original.tenant, original.method)
            and digest(decoded) == original.digest
        )
        if code == OK and decoded is not None and step.tenant is not None:
            now = after[step.tenant]
            self._check_answer(step, decoded, reply, before[step.tenant], now, replayed)
        self._check_request_id(step, decoded, reply, changed)
        self.cache.update(after)

    def _check_not_created(self, step: Step, request: pb.EnqueueRequest) -> None:
        """A refused Enqueue created nothing under its id, in any tenant it may name."""
        iid = request.interaction_id
        if not iid or len(iid) > 128 or not iid.isprintable():
            return
        for tenant in [step.tenant] if step.tenant else [self.main, self.other]:
            if iid not in self.world.interactions.get(tenant, ()):
                got = self.world.read(
                    "GetInteraction", pb.GetInteractionRequest(interaction_id=iid), tenant
                )
                assert got is None, f"a refused Enqueue created {iid!r} in {tenant!r}"

    def _check_answer(
        self, step: Step, request: Any, reply: Reply, before: Snap, after: Snap, replayed: bool
    ) -> None:
        """An answer shows the state the call left; a replayed one (a retry of a call that
        was applied) shows what the call acted on as it is now."""
        method = step.method
        body = reply.body
        where = f"{method} {_text(request)}"
        if method == "WatchAssignments":
            return
        assert body is not None, where
        if method in AGENT_REPLIES:
            agent = pb.Agent.FromString(body)
            assert _bytes(agent) == _bytes(after.agents[request.agent_id]), where
        elif method in INTERACTION_REPLIES:
            interaction = pb.Interaction.FromString(body)
            now = after.interactions[request.interaction_id]
            assert now is not None and _bytes(interaction) == _bytes(_without_history(now)), where
        elif method == "GetInteraction":
            now = after.interactions.get(request.interaction_id)
            assert now is not None, f"{where}: found, but no Enqueue created it"
            assert pb.Interaction.FromString(body) == now, where
        elif method == "Enqueue":
            answer = pb.EnqueueResponse.FromString(body)
            now = after.interactions[request.interaction_id]
            assert now is not None
            assert _bytes(answer.interaction) == _bytes(_without_history(now)), where
            original = step.retry_of or step.reuse_of
            if replayed and original is not None:
                first = pb.EnqueueResponse.FromString(original.reply or b"")
                assert answer.created == first.created, where
            else:
                existed = before.interactions.get(request.interaction_id) is not None
                assert answer.created == (not existed), where
                if existed:
                    assert before.same(after), where
        elif method == "Assign":
            assigned = pb.AssignResponse.FromString(body)
            if assigned.matched:
                now = after.interactions[assigned.interaction.id]
                assert now is not None
                assert _bytes(assigned.interaction) == _bytes(_without_history(now)), where
            if request.WhichOneof("target") == "agent_id" and assigned.matched:
                assert assigned.agent_id == request.agent_id, where
            if request.WhichOneof("target") == "agent_id" and assigned.matched and not replayed:
                assert assigned.interaction.state == pb.INTERACTION_STATE_ASSIGNED, where
                assert assigned.interaction.agent_id == request.agent_id, where
        elif method == "RemoveAgent" and not replayed:
            assert request.agent_id not in after.agents, where
        elif method == "ListAgents":
            page = pb.ListAgentsResponse.FromString(body)
            self._check_page(step.tenant or self.main, request, page, after)
        elif method == "Explain":
            assert pb.Explanation.FromString(body).interaction_id == request.interaction_id
        elif method == "GetStats":
            stats = pb.Stats.FromString(body)
            stats.ClearField("at")
            stats.ClearField("longest_wait_seconds")
            assert _bytes(stats) == _bytes(after.stats), where
        if replayed:
            return
        if method == "Accept":
            now = after.interactions[request.interaction_id]
            assert now is not None and now.state == pb.INTERACTION_STATE_ASSIGNED, where
            assert now.agent_id == request.agent_id, where
        elif method == "Cancel":
            now = after.interactions[request.interaction_id]
            assert now is not None and now.state == pb.INTERACTION_STATE_CANCELLED, where

    def _check_page(
        self, tenant: str, request: Any, page: pb.ListAgentsResponse, snap: Snap
    ) -> None:
        """The page is the next agents in id order after the token, in the state asked."""
        try:
            after = page_token_in(request.page_token)
        except InvalidArgument:
            raise AssertionError(f"a bad page token was accepted: {request.page_token!r}") from None
        wanted = [
            a
            for agent_id, a in sorted(snap.agents.items())
            if agent_id > after and request.state in (0, a.state)
        ]
        size = request.page_size or 500
        assert [a.id for a in page.agents] == [a.id for a in wanted[:size]], _text(request)
        assert bool(page.next_page_token) == (len(wanted) > size), _text(request)
        if page.next_page_token:
            self.tokens[tenant] = page.next_page_token

    def _check_request_id(
        self, step: Step, decoded: Message | None, reply: Reply, changed: bool
    ) -> None:
        """A retry answers OK and changes nothing; another request under a used id is
        ALREADY_EXISTS; a fresh id is remembered for later steps."""
        code, where = reply.code, f"{step.method} -> {reply.code.name} {reply.details!r}"
        original = step.retry_of or step.reuse_of
        takes = decoded is not None and _takes_request_id(step.method, decoded)
        if original is not None and takes and step.tenant == original.tenant:
            assert decoded is not None
            same = step.method == original.method and digest(decoded) == original.digest
            if original.code == OK and original.changed:
                if same:  # a retry
                    gone = step.method in AGENT_REPLIES and code == NOT_FOUND
                    assert code == OK or gone, f"{where}: a retry of a call that was applied"
                    assert not changed, f"{where}: a retry applied the call again"
                else:
                    assert code in (ALREADY_EXISTS, INVALID), f"{where}: a reused request id"
                    if code == ALREADY_EXISTS:
                        assert reply.details.startswith(f"{REQUEST_HEADER}: "), where
            elif same and code == OK:  # the first try was refused, or a no-op: this counts
                original.code, original.changed, original.reply = code, changed, reply.body
                if changed:
                    self.world.recorded.append(original)
        fresh = step.retry_of is None and step.reuse_of is None
        if fresh and step.request_id and takes and step.tenant is not None:
            assert decoded is not None
            entry = Recorded(
                step.request_id,
                step.tenant,
                step.metadata,
                step.method,
                step.body,
                digest(decoded),
                code,
                changed and code == OK,
                reply.body,
                step.timeout,
            )
            self.rids.append(entry)
            if entry.changed:
                self.world.recorded.append(entry)


# --- the tests -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    w = World()
    try:
        yield w
    finally:
        w.close()


def _fuzz(
    world: World,
    examples: int,
    steps: int,
    fuzzed_at_least: int,
    missed_at_most: int,
    restart_every: int,
) -> None:
    chosen = os.environ.get("CIM_FUZZ_SEED")
    run_seed = int(chosen) if chosen else random.getrandbits(32)
    print(f"\nfuzz seed {run_seed} (replay with CIM_FUZZ_SEED={run_seed})")
    world.reset()
    world.run_id = f"{run_seed:08x}"[:6]
    world.restart_every = restart_every
    started = time.monotonic()

    def factory() -> FuzzMachine:
        return FuzzMachine(world)

    try:
        run_state_machine_as_test(
            seed(run_seed)(factory),  # type: ignore[arg-type]  # any factory of machines
            settings=settings(
                max_examples=examples,
                stateful_step_count=steps,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                print_blob=True,
                database=None,  # a failure replays from its seed, on a server as fresh
                # Shrinking replays steps on a server whose clock has moved on; a failure is
                # reported as found, every request noted, unless CIM_FUZZ_SHRINK=1.
                phases=PHASES if os.environ.get("CIM_FUZZ_SHRINK") else PHASES[:-2],
            ),
        )
    except BaseException as exc:
        if world.first_failure is not None:
            raise AssertionError(
                f"seed {run_seed}: the first failure, {world.first_failure}"
            ) from exc
        raise
    fuzzed, elapsed = world.fuzzed, time.monotonic() - started
    _restart_with_offers_in_flight(world)
    _restart_and_compare(world)
    print(
        f"fuzz: {world.examples} examples, {fuzzed} requests fuzzed, {world.requests} sent in "
        f"all, {len(world.tenants)} tenants, {world.restarts} restarts "
        f"({world.restart_seconds:.1f} s), {elapsed:.1f} s "
        f"(+ {time.monotonic() - started - elapsed:.1f} s for the last restarts)"
    )
    table = sorted(world.codes.items())
    for method in sorted(METHODS):
        counts = ", ".join(f"{c} {n}" for (m, c), n in table if m == method)
        print(f"  {method}: {counts}")
    # The generators reach every call, refused and applied (a watch succeeds until its
    # deadline); a short run may miss one or two of the deepest.
    succeeded = {
        m for (m, c), n in table if c == "OK" or (m, c) == ("WatchAssignments", "DEADLINE_EXCEEDED")
    }
    refused = {m for (m, c), n in table if c not in ("OK", "DEADLINE_EXCEEDED")}
    assert world.fuzzed >= fuzzed_at_least, world.fuzzed
    assert len(set(METHODS) - succeeded) <= missed_at_most, set(METHODS) - succeeded
    assert len(set(METHODS) - refused) <= missed_at_most, set(METHODS) - refused


WITHDRAWN = {pb.EVENT_TYPE_OFFER_WITHDRAWN, pb.EVENT_TYPE_REQUEUED, pb.EVENT_TYPE_TRANSFER_FAILED}


def _restarted(world: World) -> list[str]:
    """Restart on the same Redis and wait for the load's first matching; the tenants."""
    tenants = sorted(world.tenants)
    started = time.monotonic()
    world.restart()
    world.restarts += 1
    world.restart_seconds += time.monotonic() - started
    assert world.serving()
    timers = world.running.server.tenants.timers
    wait_for(lambda: (timers.next_due() or 1e18) > time.time(), 5, "the load's first matching")
    assert world.stored_tenants() == set(tenants)
    assert world.live_tenants() == set(tenants)
    return tenants


def _restart_with_offers_in_flight(world: World, tenants: set[str] | None = None) -> None:
    """A restart withdraws the offers in flight (their streams are gone): each goes back
    to the queue, or ends its transfer, and may be offered again. Nothing else changes:
    every tenant loads whole (no quarantine, loads recounted right), each history goes on
    from where it was, and the counters of what was answered, abandoned and done hold."""
    compared = sorted(world.tenants if tenants is None else tenants & world.tenants)
    before = {t: world.snapshot(t) for t in compared}
    _restarted(world)
    for tenant in compared:
        was, now = before[tenant], world.snapshot(tenant)
        where = f"{tenant!r} after a restart"
        assert list(was.agents) == list(now.agents), where
        for agent_id, agent in was.agents.items():
            a, b = pb.Agent(), pb.Agent()
            a.CopyFrom(agent)
            b.CopyFrom(now.agents[agent_id])
            a.ClearField("load")
            b.ClearField("load")
            assert _bytes(a) == _bytes(b), f"{where}: {_text(agent)} -> {_text(b)}"
        assert was.interactions.keys() == now.interactions.keys(), where
        for iid, x in was.present().items():
            y = now.interactions[iid]
            assert y is not None, f"{where}: {iid!r} is gone"
            # A history holds the customer's earlier interactions' first: each goes on.
            for of, events in _by_interaction(x).items():
                later = _by_interaction(y).get(of, [])
                assert later[: len(events)] == events, f"{where}: {iid!r}'s history of {of!r}"
                added = {e.type for e in later[len(events) :]}
                earlier = was.interactions.get(of)
                offered = earlier is not None and earlier.HasField("offer")
                allowed = {pb.EVENT_TYPE_OFFERED} | (WITHDRAWN if offered else set())
                assert added <= allowed, f"{where}: {of!r} got {added}: {_text(y)}"
            if x.HasField("transfer"):
                assert not y.HasField("transfer") or y.transfer == x.transfer, f"{where}: {iid}"
            assert _settled(x) == _settled(y), f"{where}: {_text(x)}\n-> {_text(y)}"
        for counter in ("answered", "abandoned", "completed", "quarantined"):
            assert getattr(was.stats, counter) == getattr(now.stats, counter), where


def _by_interaction(interaction: pb.Interaction) -> dict[str, list[pb.HistoryEvent]]:
    out: dict[str, list[pb.HistoryEvent]] = {}
    for event in interaction.history:
        out.setdefault(event.interaction_id, []).append(event)
    return out


def _settled(interaction: pb.Interaction) -> bytes:
    """An interaction but for what a restart may change: offer, transfer, history."""
    out = _without_history(interaction)
    out.ClearField("offer")
    out.ClearField("transfer")
    if out.state == pb.INTERACTION_STATE_OFFERED:
        out.state = pb.INTERACTION_STATE_QUEUED
    return _bytes(out)


def _restart_and_compare(world: World) -> None:
    """Settle every offer, restart on the same Redis, and read every tenant back."""
    for tenant in sorted(world.tenants):
        world.settle(tenant)
    before = {t: world.snapshot(t) for t in sorted(world.tenants)}
    tenants = _restarted(world)
    for tenant in tenants:
        after = world.snapshot(tenant, check=False)
        quarantined = [k.split(":", 1)[1] for k in after.stats.quarantined_records]
        held = [_text(before[tenant].interactions.get(k)) for k in quarantined]
        assert before[tenant].same(after), (
            f"{tenant!r} after a restart:\n{before[tenant].diff(after)}\n"
            f"quarantined, as it was before: {held}\nagents: {list(before[tenant].agents)}"
        )
    # Request ids outlive the restart: a retry changes nothing, a reuse is refused.
    for entry in world.recorded[-40:]:
        reply = world.call(entry.method, entry.body, entry.metadata)
        gone = entry.method in AGENT_REPLIES and reply.code == NOT_FOUND
        assert reply.code == OK or gone, f"retry of {entry.method} after a restart: {reply}"
        other = pb.SetAgentStateRequest(agent_id="nobody", state=pb.AGENT_STATE_AVAILABLE)
        reply = world.call("SetAgentState", other.SerializeToString(), entry.metadata)
        assert reply.code == ALREADY_EXISTS, f"reuse of {entry.request_id!r}: {reply}"
    for tenant in tenants:
        after = world.snapshot(tenant)
        assert before[tenant].same(after), (
            f"{tenant!r} after retries:\n{before[tenant].diff(after)}"
        )
    assert world.serving()


def test_fuzz_every_rpc_over_a_live_server(world: World) -> None:
    _fuzz(world, examples=25, steps=30, fuzzed_at_least=400, missed_at_most=3, restart_every=1)


@pytest.mark.slow
def test_fuzz_every_rpc_over_a_live_server_long(world: World) -> None:
    _fuzz(world, examples=600, steps=50, fuzzed_at_least=20_000, missed_at_most=0, restart_every=10)
