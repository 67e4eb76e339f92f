"""Random, often malformed requests to every RPC of the Router service (its descriptor lists
them, so a new RPC is covered by itself), as messages or as raw bytes: a client's mistake
gets a clear status (never INTERNAL or UNKNOWN), INVALID_ARGUMENT names a field of the
request, and a refused request changes nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2, timestamp_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cim_router._pb import router_pb2 as pb
from cim_router.domain import limits
from cim_router.domain.channel import Channel
from cim_router.service.metadata import REQUEST_HEADER, TENANT_HEADER
from tests.service.conftest import Client, Running, fast_policy, start_server
from tests.service.steady import steady

ALLOWED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ALREADY_EXISTS,
}
SERVICE = pb.DESCRIPTOR.services_by_name["Router"]
METHODS: dict[str, MethodDescriptor] = {m.name: m for m in SERVICE.methods}
AGENTS = ("a1", "a2", "sup")
INTERACTIONS = ("i1", "i2", "i3")
TENANT = ("x-cim-tenant", "default")

# Each a little over one limit, or at it.
LONG = tuple(
    "x" * n
    for n in (
        limits.MAX_SKILL_NAME_LENGTH + 1,
        limits.MAX_ID_LENGTH,
        limits.MAX_ID_LENGTH + 1,
        limits.MAX_REASON_LENGTH + 1,
        limits.MAX_PAGE_TOKEN_LENGTH + 1,
    )
)
strings = st.one_of(
    st.sampled_from(("", *AGENTS, *INTERACTIONS, "billing", "gold", "a\x00b", "é", "\n", *LONG)),
    st.text(max_size=8),
)
ints = st.sampled_from(
    (-(2**31), -1, 0, 1, 2, 3, 5, 6, 10, 11, 64, 65, 100, 101, 255, 256, 1000, 1001, 2**31 - 1)
)
doubles = st.sampled_from(
    (-1.0, 0.0, 0.5, 30.0, limits.MAX_SLA_SECONDS + 1.0, 1e308, *map(float, ("nan", "inf", "-inf")))
)
# Enough of the same few names that lists repeat one.
skill_names = st.sampled_from(("billing", "billing", "tech", "", "a\x00", "s" * 65))


def _nested(levels: int) -> dict[str, Any]:
    value: Any = 1
    for _ in range(levels - 1):
        value = {"a": value}
    return {"a": value}


def _json() -> st.SearchStrategy[Any]:
    keys = st.one_of(st.text(max_size=4), st.sampled_from(("", "k" * 257, "a\x00")))
    leaves = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=5), doubles)
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)
        ),
        max_leaves=8,
    )


def _context() -> st.SearchStrategy[struct_pb2.Struct]:
    def build(items: dict[str, Any]) -> struct_pb2.Struct:
        s = struct_pb2.Struct()
        s.update(items)
        return s

    plain = st.dictionaries(st.text(max_size=4), _json(), max_size=3)
    # Past 33 levels the protobuf runtime refuses to put the Struct in a request at all.
    deep = st.integers(limits.MAX_CONTEXT_DEPTH - 1, 33).map(_nested)
    big = st.just({"blob": "z" * limits.MAX_CONTEXT_BYTES})
    return st.one_of(plain, deep, big).map(build)


def _repeated_strings() -> st.SearchStrategy[list[str]]:
    many = st.sampled_from((limits.MAX_REMOVE_KEYS + 1, limits.MAX_WATCHED_AGENTS + 1))
    return st.one_of(st.lists(strings, max_size=3), many.map(lambda n: [f"k{k}" for k in range(n)]))


def _skill_map() -> st.SearchStrategy[dict[str, int]]:
    too_many = {f"s{k}": 5 for k in range(limits.MAX_SKILLS_PER_AGENT + 1)}
    return st.one_of(st.dictionaries(strings, ints, max_size=3), st.just(too_many))


def _text_map() -> st.SearchStrategy[dict[str, str]]:
    too_many = {f"q{k}": "x" for k in range(limits.MAX_FEEDBACK_FIELDS + 1)}
    return st.one_of(st.dictionaries(strings, strings, max_size=3), st.just(too_many))


def _scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_STRING:
        return strings
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type == FieldDescriptor.TYPE_DOUBLE:
        return doubles
    if field.type == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None
        values = [v.number for v in field.enum_type.values]
        return st.sampled_from((*values, 99, -1))
    if field.type in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
        return ints.map(lambda v: v & 0xFFFFFFFF)  # -1 becomes the largest
    return ints


def _skill_requirement() -> st.SearchStrategy[Message]:
    return st.builds(pb.SkillRequirement, skill=skill_names, min_level=ints)


@st.composite
def messages(draw: st.DrawFn, descriptor: Descriptor, depth: int = 0) -> dict[str, Any]:
    """Keyword arguments for a message: each field set or not, any value of its type."""
    out: dict[str, Any] = {}
    oneofs_used: set[str] = set()
    for field in descriptor.fields:
        if field.containing_oneof is not None:
            if field.containing_oneof.name in oneofs_used or draw(st.booleans()):
                continue
            oneofs_used.add(field.containing_oneof.name)
        elif not draw(st.booleans()):
            continue
        out[field.name] = draw(field_values(field, depth))
    return out


def field_values(field: FieldDescriptor, depth: int = 0) -> st.SearchStrategy[Any]:
    """Any value of the field's type, often one just past a limit."""
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        if field.message_type.fields_by_name["value"].type == FieldDescriptor.TYPE_STRING:
            return _text_map()
        return _skill_map()
    if field.message_type is not None:
        return _message_value(field, depth)
    if field.is_repeated and field.type == FieldDescriptor.TYPE_ENUM:
        return st.lists(_scalar(field), max_size=8)  # Queue.channels
    if field.is_repeated:
        return _repeated_strings()
    return _scalar(field)


def _message_value(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    message = field.message_type
    assert message is not None
    one: st.SearchStrategy[Any]
    if message.full_name == "google.protobuf.Struct":
        one = _context()
    elif message.full_name == "cim_router.v1.SkillRequirement":
        one = _skill_requirement()
    elif message.full_name == "google.protobuf.Timestamp":
        one = _timestamp()
    elif depth >= 2:
        one = st.builds(getattr(pb, message.name))
    else:
        one = messages(message, depth + 1).map(lambda kw: _make(message, kw))
    if not field.is_repeated:
        return one
    return st.lists(one, max_size=limits.MAX_SKILLS_PER_INTERACTION + 2)


def _timestamp() -> st.SearchStrategy[Any]:
    """A time: now-ish, far ahead, before the epoch, or with nanoseconds out of range."""

    def make(seconds: int, nanos: int) -> timestamp_pb2.Timestamp:
        return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)

    return st.builds(
        make,
        st.sampled_from((0, -1, 1_800_000_000, 4_000_000_000, 2**62)),
        st.sampled_from((0, 999_999_999, 1_000_000_000, -1)),
    )


def _make(descriptor: Descriptor, kwargs: dict[str, Any]) -> Message:
    cls: type[Message] = getattr(pb, descriptor.name)
    return cls(**kwargs)


@st.composite
def bodies(draw: st.DrawFn, method: MethodDescriptor) -> bytes:
    """A request as the bytes on the wire: a message, often malformed, or bytes that may
    not be one (random, or a message with a byte changed or cut short, or with a string
    that is not UTF-8)."""
    message = _make(method.input_type, draw(messages(method.input_type)))
    return draw(wire(message, intact=3))


@st.composite
def wire(draw: st.DrawFn, message: Message, intact: int = 1) -> bytes:
    """`message` as bytes: as it is (`intact` times in `intact` + 4), else random bytes, a
    byte changed, cut short, or with a string field (at any depth) that is not UTF-8."""
    body = message.SerializeToString()
    how = draw(st.sampled_from(("message",) * intact + ("random", "changed", "cut", "utf8")))
    if how == "random":
        return draw(st.binary(max_size=48))
    if how == "utf8":
        paths = _string_paths(message.DESCRIPTOR)
        if paths:
            junk = draw(st.sampled_from(NOT_UTF8))
            return body + _nested_bytes(draw(st.sampled_from(paths)), junk)
        how = "changed"
    if how == "message" or not body:
        return body
    at = draw(st.integers(0, len(body) - 1))
    if how == "cut":
        return body[:at]
    return body[:at] + bytes([draw(st.integers(0, 255))]) + body[at + 1 :]


# Bytes no UTF-8 decoder accepts: a bad start byte, a cut sequence, an encoded surrogate,
# an overlong form.
NOT_UTF8 = (b"\xff", b"ab\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"ok\xfe\xfeok")


def _string_paths(descriptor: Any, depth: int = 0) -> list[tuple[int, ...]]:
    """Field numbers leading to each string field, map keys and Struct keys included."""
    out: list[tuple[int, ...]] = []
    for field in descriptor.fields:
        if field.type == FieldDescriptor.TYPE_STRING:
            out.append((field.number,))
        elif field.message_type is not None and depth < 3:
            out += [(field.number, *p) for p in _string_paths(field.message_type, depth + 1)]
    return out


def _nested_bytes(path: tuple[int, ...], payload: bytes) -> bytes:
    """The encoding of `payload` as the length-delimited field at `path`."""
    for number in reversed(path):
        payload = _varint(number << 3 | 2) + _varint(len(payload)) + payload
    return payload


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append(n & 0x7F | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _send(
    channel: grpc.Channel, method: MethodDescriptor, body: bytes, metadata: tuple[Any, ...]
) -> grpc.StatusCode:
    """The call's status; a watch stream that opened is ended by its deadline."""
    path = f"/{SERVICE.full_name}/{method.name}"
    try:
        if method.client_streaming:
            return _send_in_session(channel, path, body, metadata)
        if method.server_streaming:
            stream = channel.unary_stream(path, None, None)
            list(stream(body, timeout=0.3, metadata=metadata))
        else:
            channel.unary_unary(path, None, None)(body, timeout=3.0, metadata=metadata)
    except grpc.RpcError as exc:
        code: grpc.StatusCode = exc.code()
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            _assert_names_a_field(method, exc.details() or "")
        elif code == grpc.StatusCode.DEADLINE_EXCEEDED and _may_wait(method, body):
            return grpc.StatusCode.OK
        assert code in ALLOWED, f"{method.name}: {code} {exc.details()}"
        return code
    return grpc.StatusCode.OK


def _send_in_session(
    channel: grpc.Channel, path: str, body: bytes, metadata: tuple[Any, ...]
) -> grpc.StatusCode:
    """One message on a Session, then a half-close: its answer's status, the same rules
    held to the error (INVALID_ARGUMENT names a field of the call's request, or of the
    envelope)."""
    stream = channel.stream_stream(path, None, None)
    answers = [
        pb.SessionResponse.FromString(b)
        for b in stream(iter([body]), timeout=3.0, metadata=metadata)
    ]
    answers = [a for a in answers if a.WhichOneof("result") != "event"]
    assert len(answers) == 1, answers
    if answers[0].WhichOneof("result") != "error":
        return grpc.StatusCode.OK
    error = answers[0].error
    code = next(c for c in grpc.StatusCode if c.value[0] == error.code)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        assert error.message.startswith(f"{error.field}: "), error
        try:
            call = pb.SessionRequest.FromString(body).WhichOneof("call")
        except Exception:
            call = None
        envelope = METHODS["Session"]
        if call is None or error.field in {"correlation_id", "request_id", "request", "call"}:
            _assert_names_a_field(envelope, error.message)
        else:
            inner = envelope.input_type.fields_by_name[call].message_type
            assert inner is not None
            _assert_names_a_field(_Call(inner), error.message)
    assert code in ALLOWED, f"Session: {code} {error.message}"
    return code


class _Call:
    """A Session call's request, where _assert_names_a_field takes a method."""

    def __init__(self, input_type: Descriptor) -> None:
        self.input_type = input_type
        self.name = input_type.name


def _may_wait(method: MethodDescriptor, body: bytes) -> bool:
    """A watch stream stays open; a waiting Assign answers at its deadline."""
    if method.server_streaming:
        return True
    return method.name == "Assign" and pb.AssignRequest.FromString(body).wait


def _assert_names_a_field(method: MethodDescriptor | _Call, details: str) -> None:
    """`FIELD: reason`, FIELD starting with a field (or oneof) of the request, as spelled."""
    found = re.match(r"[A-Za-z_][A-Za-z0-9_-]*", details)
    assert found and ": " in details, details
    request = method.input_type
    names = {f.name for f in request.fields} | {o.name for o in request.oneofs}
    headers = {TENANT_HEADER, REQUEST_HEADER}
    assert found.group() in names | {"request"} | headers, f"{method.name}: {details}"
    if found.group() == "request":
        assert details == f"request: cannot be decoded as {request.full_name}"


def _snapshot(client: Client) -> tuple[Any, ...]:
    stats = client.GetStats(pb.GetStatsRequest())
    steady(stats)
    agents = client.ListAgents(pb.ListAgentsRequest()).SerializeToString(deterministic=True)
    found: list[object] = []
    for iid in INTERACTIONS:
        try:
            found.append(client.get(iid).SerializeToString(deterministic=True))
        except grpc.RpcError as exc:
            found.append(exc.code())
    return stats.SerializeToString(deterministic=True), agents, tuple(found)


@pytest.fixture(scope="module")
def seeded() -> Iterator[Running]:
    # Nothing time-driven may change state between two snapshots.
    policy = fast_policy(
        offer_timeout_seconds=3600.0, wrap_up_seconds=dict.fromkeys(Channel, 3600.0)
    )
    running = start_server(policy)
    c = running.client()
    c.agent("a1", skills={"billing": 6})
    c.agent("a2", skills={"billing": 3}, state=pb.AGENT_STATE_NOT_READY)
    c.agent("sup", skills={"billing": 9}, tier=5)
    c.enqueue("i1", required_skills=[pb.SkillRequirement(skill="billing", min_level=5)])
    c.enqueue("i2", channel=pb.CHANNEL_EMAIL, customer_id="cust-1")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def channel(seeded: Running) -> grpc.Channel:
    c = grpc.insecure_channel(seeded.server.address)
    seeded.channels.append(c)
    return c


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_request_gets_a_client_status_and_a_refusal_changes_nothing(
    seeded: Running, channel: grpc.Channel, data: st.DataObject
) -> None:
    client = seeded.client()
    method = METHODS[data.draw(st.sampled_from(sorted(METHODS)), label="method")]
    body = data.draw(bodies(method), label="body")
    twice = data.draw(st.sampled_from((False,) * 9 + (True,)), label="tenant header twice")
    metadata = (TENANT, TENANT) if twice else (TENANT,)
    before = _snapshot(client)
    code = _send(channel, method, body, metadata)
    if twice:
        assert code == grpc.StatusCode.INVALID_ARGUMENT
    if code != grpc.StatusCode.OK:
        assert _snapshot(client) == before, f"{method.name} was refused with {code} but changed"
