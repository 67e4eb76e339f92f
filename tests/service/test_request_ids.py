"""Request ids over gRPC: a retry answers with the first outcome and applies nothing
again; an id is bound to its first request, even when that request changed nothing."""

from __future__ import annotations

import grpc
import pytest

from cim_router._pb import router_pb2 as pb
from tests.service.conftest import Client


def _with_id(request_id: str) -> tuple[tuple[str, str], ...]:
    return (("x-cim-tenant", "default"), ("x-cim-request-id", request_id))


def test_a_retried_enqueue_answers_as_the_first_did(client: Client) -> None:
    request = pb.EnqueueRequest(interaction_id="c1", channel=pb.CHANNEL_CHAT)
    first = client.stub.Enqueue(request, metadata=_with_id("r1"), timeout=5)
    again = client.stub.Enqueue(request, metadata=_with_id("r1"), timeout=5)
    assert first.created and again.created  # the first outcome, not "already there"
    plain = client.stub.Enqueue(request, metadata=_with_id("r2"), timeout=5)
    assert not plain.created  # a new call: the interaction was there already


def test_an_id_first_used_by_a_call_that_changed_nothing_is_still_bound(client: Client) -> None:
    request = pb.EnqueueRequest(interaction_id="c1", channel=pb.CHANNEL_CHAT)
    client.stub.Enqueue(request, metadata=_with_id("r1"), timeout=5)
    client.stub.Enqueue(request, metadata=_with_id("r2"), timeout=5)  # changes nothing
    cancel = pb.CancelRequest(interaction_id="c1")
    with pytest.raises(grpc.RpcError) as reused:
        client.stub.Cancel(cancel, metadata=_with_id("r2"), timeout=5)
    assert reused.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert (reused.value.details() or "").startswith("x-cim-request-id:")
    assert client.get("c1").state == pb.INTERACTION_STATE_QUEUED


def test_a_retried_accept_applies_once(client: Client) -> None:
    client.agent("ann")
    client.enqueue("c1")
    accept = pb.AcceptRequest(interaction_id="c1", agent_id="ann")
    for _ in range(3):
        done = client.stub.Accept(accept, metadata=_with_id("acc-1"), timeout=5)
        assert done.state == pb.INTERACTION_STATE_ASSIGNED
    history = [e.type for e in client.get("c1").history]
    assert history.count(pb.EVENT_TYPE_ACCEPTED) == 1
    with pytest.raises(grpc.RpcError) as again:  # without the id it is a second accept
        client.Accept(accept)
    assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION
