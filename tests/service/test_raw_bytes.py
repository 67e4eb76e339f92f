"""Request bodies that are not the method's message, sent as raw bytes to every method of
the Router service (its descriptor lists them, so a new RPC is covered by itself). On the
Session stream the one message is refused in its answer, and the stream goes on."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor

from cim_router._pb import router_pb2 as pb
from tests.service.conftest import Client, Running
from tests.service.steady import steady

SERVICE = pb.DESCRIPTOR.services_by_name["Router"]
METHODS: list[MethodDescriptor] = list(SERVICE.methods)
TENANT = (("x-cim-tenant", "default"),)

GARBAGE = {
    "truncated field": b"\x0a\x05ab",
    "overlong varint": b"\x08" + b"\xff" * 10 + b"\x01",
    "bad wire type": b"\x0f\x00",
    "length past the end": b"\x12\x7fabc",
}


def raw_call(channel: grpc.Channel, method: MethodDescriptor, body: bytes) -> Any:
    """Send `body` as the request, unserialized; the raw response (or stream of them)."""
    path = f"/{SERVICE.full_name}/{method.name}"
    if method.server_streaming:
        stream = channel.unary_stream(path, request_serializer=None, response_deserializer=None)
        return list(stream(body, timeout=5, metadata=TENANT))
    call = channel.unary_unary(path, request_serializer=None, response_deserializer=None)
    return call(body, timeout=5, metadata=TENANT)


def _code(value: int) -> grpc.StatusCode:
    return next(c for c in grpc.StatusCode if c.value[0] == value)


def refusal(channel: grpc.Channel, method: MethodDescriptor, body: bytes) -> tuple[Any, str]:
    """The status `body` gets: the call's, or on a Session the error answering it (the
    stream then goes on: a call after it is answered too)."""
    if not method.client_streaming:
        with pytest.raises(grpc.RpcError) as err:
            raw_call(channel, method, body)
        return err.value.code(), err.value.details() or ""
    path = f"/{SERVICE.full_name}/{method.name}"
    stream = channel.stream_stream(path, request_serializer=None, response_deserializer=None)
    after = pb.SessionRequest(correlation_id="after", get_agent=pb.GetAgentRequest(agent_id="a1"))
    raw = stream(iter([body, after.SerializeToString()]), timeout=5, metadata=TENANT)
    answers = [pb.SessionResponse.FromString(b) for b in raw]
    assert [a.correlation_id for a in answers] == ["", "after"], answers
    assert answers[1].WhichOneof("result") in ("get_agent", "error")
    error = answers[0].error
    assert answers[0].WhichOneof("result") == "error" and error.field == "request"
    return _code(error.code), error.message


def invalid_utf8(method: MethodDescriptor) -> bytes | None:
    """A body whose first string field holds bytes that are not UTF-8; None if it has none."""
    for field in method.input_type.fields:
        if field.type == FieldDescriptor.TYPE_STRING:
            return bytes([field.number << 3 | 2, 2]) + b"\xff\xfe"
    return None


def world(client: Client) -> tuple[Any, ...]:
    stats = client.GetStats(pb.GetStatsRequest())
    steady(stats)
    return stats, client.ListAgents(pb.ListAgentsRequest()), client.get("i1")


@pytest.fixture
def channel(running: Running) -> grpc.Channel:
    c = grpc.insecure_channel(running.server.address)
    running.channels.append(c)
    return c


def test_the_service_has_a_streaming_method_among_those_covered() -> None:
    streaming = {"WatchAssignments", "WatchEvents", "Session"}
    assert {m.name for m in METHODS if m.server_streaming} == streaming
    assert {m.name for m in METHODS if m.client_streaming} == {"Session"}
    assert {"Enqueue", "Transfer", "CancelTransfer", "GetStats"} <= {m.name for m in METHODS}


@pytest.mark.parametrize("kind", sorted(GARBAGE))
@pytest.mark.parametrize("method", METHODS, ids=[m.name for m in METHODS])
def test_undecodable_bytes_are_invalid_argument_on_every_method(
    client: Client, channel: grpc.Channel, method: MethodDescriptor, kind: str
) -> None:
    client.agent("a1")
    client.enqueue("i1")
    before = world(client)
    code, details = refusal(channel, method, GARBAGE[kind])
    assert code == grpc.StatusCode.INVALID_ARGUMENT, details
    assert details == f"request: cannot be decoded as {method.input_type.full_name}"
    assert world(client) == before


@pytest.mark.parametrize(
    "method",
    [m for m in METHODS if invalid_utf8(m) is not None],
    ids=[m.name for m in METHODS if invalid_utf8(m) is not None],
)
def test_invalid_utf8_in_a_string_field_is_invalid_argument(
    client: Client, channel: grpc.Channel, method: MethodDescriptor
) -> None:
    client.enqueue("i1")
    before = world(client)
    body = invalid_utf8(method)
    assert body is not None
    code, details = refusal(channel, method, body)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, details
    assert details.startswith("request: cannot be decoded as ")
    assert world(client) == before


def test_bytes_that_decode_are_served_as_usual(channel: grpc.Channel) -> None:
    method = SERVICE.methods_by_name["UpsertAgent"]
    body = pb.UpsertAgentRequest(agent_id="a1", display_name="Ann").SerializeToString()
    agent = pb.Agent.FromString(raw_call(channel, method, body))
    assert (agent.id, agent.display_name) == ("a1", "Ann")
