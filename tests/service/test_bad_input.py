"""Random, often malformed requests to every unary RPC: a client's mistake gets a clear
status (never INTERNAL or UNKNOWN), and a refused request changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cim_router._pb import router_pb2 as pb
from cim_router.domain.channel import Channel
from tests.service.conftest import Client, Running, fast_policy, start_server

ALLOWED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ALREADY_EXISTS,
}
AGENTS = ("a1", "a2", "sup")
INTERACTIONS = ("i1", "i2", "i3")
UNARY: dict[str, type[Message]] = {
    "UpsertAgent": pb.UpsertAgentRequest,
    "SetAgentState": pb.SetAgentStateRequest,
    "GetAgent": pb.GetAgentRequest,
    "ListAgents": pb.ListAgentsRequest,
    "RemoveAgent": pb.RemoveAgentRequest,
    "Enqueue": pb.EnqueueRequest,
    "Assign": pb.AssignRequest,
    "Accept": pb.AcceptRequest,
    "Reject": pb.RejectRequest,
    "Complete": pb.CompleteRequest,
    "Cancel": pb.CancelRequest,
    "Transfer": pb.TransferRequest,
    "Escalate": pb.EscalateRequest,
    "GetInteraction": pb.GetInteractionRequest,
    "UpdateContext": pb.UpdateContextRequest,
    "Explain": pb.ExplainRequest,
    "GetStats": pb.GetStatsRequest,
}

strings = st.one_of(
    st.sampled_from(("", *AGENTS, *INTERACTIONS, "billing", "gold", "x" * 129, "a\x00b", "é")),
    st.text(max_size=8),
)
ints = st.sampled_from((-(2**31), -1, 0, 1, 2, 3, 5, 10, 11, 100, 101, 2**31 - 1))
doubles = st.sampled_from((-1.0, 0.0, 0.5, 30.0, 1e308, float("nan"), float("inf")))
json_values = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=5))


def _context() -> st.SearchStrategy[struct_pb2.Struct]:
    def build(items: dict[str, Any]) -> struct_pb2.Struct:
        s = struct_pb2.Struct()
        s.update(items)
        return s

    big = st.just({"blob": "z" * 70_000})
    return st.one_of(st.dictionaries(st.text(max_size=4), json_values, max_size=3), big).map(build)


def _repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


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
    return ints


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
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            out[field.name] = draw(st.dictionaries(strings, ints, max_size=3))
        elif field.message_type is not None:
            if field.message_type.full_name == "google.protobuf.Struct":
                value: Any = draw(_context())
            elif depth >= 2:
                continue
            else:
                kwargs = draw(messages(field.message_type, depth + 1))
                value = _make(field.message_type, kwargs)
            out[field.name] = (
                draw(st.lists(st.just(value), max_size=2)) if _repeated(field) else value
            )
        elif _repeated(field):
            out[field.name] = draw(st.lists(_scalar(field), max_size=3))
        else:
            out[field.name] = draw(_scalar(field))
    return out


def _make(descriptor: Descriptor, kwargs: dict[str, Any]) -> Message:
    cls: type[Message] = getattr(pb, descriptor.name)
    return cls(**kwargs)


def _snapshot(client: Client) -> tuple[Any, ...]:
    stats = client.GetStats(pb.GetStatsRequest())
    stats.ClearField("at")
    stats.ClearField("longest_wait_seconds")
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


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_request_gets_a_client_status_and_a_refusal_changes_nothing(
    seeded: Running, data: st.DataObject
) -> None:
    client = seeded.client()
    method = data.draw(st.sampled_from(sorted(UNARY)), label="method")
    request_cls = UNARY[method]
    descriptor: Any = request_cls.DESCRIPTOR
    request = request_cls(**data.draw(messages(descriptor)))
    before = _snapshot(client)
    try:
        getattr(client, method)(request, timeout=10.0)
        code = grpc.StatusCode.OK
    except grpc.RpcError as exc:
        code = exc.code()
        assert code in ALLOWED, f"{method}: {code} {exc.details()}"
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            # The message names the offending field before a colon.
            assert ":" in (exc.details() or ""), exc.details()
    if code != grpc.StatusCode.OK:
        assert _snapshot(client) == before, f"{method} was refused with {code} but changed state"
