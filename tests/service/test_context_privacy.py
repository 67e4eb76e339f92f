"""Who reads which context values: a viewer sees keys only; an agent's key sees the policy's
sensitive values only of what is offered to or held by its agent; the event stream, the
history and Explain hold no context value at all; and no log line holds a context value, a
free-text reason or a customer id."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2

from cim_router._pb import router_pb2 as pb
from tests.redis_server import drop_prefix
from tests.service.conftest import Running, fast_policy, start_server, wait_for
from tests.service.principals import As, HeaderAccess
from tests.service.redis_dump import dump

CARD, NOTE, SSN = "CARD-4111-VALUE", "NOTE-VALUE-77", "SSN-VALUE-123"
MASK = "***"


@pytest.fixture
def server() -> Iterator[Running]:
    policy = fast_policy(offer_timeout_seconds=30.0, sensitive_context_keys=frozenset({"card"}))
    running = start_server(policy, access=HeaderAccess(), metrics_port=0)
    try:
        yield running
    finally:
        running.stop()
        drop_prefix(running.settings.prefix)


@pytest.fixture
def channel(server: Running) -> grpc.Channel:
    c = grpc.insecure_channel(server.server.address)
    server.channels.append(c)
    return c


def _values(**values: str) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(values)
    return out


def _offered(channel: grpc.Channel) -> None:
    """i1, with a card and a note, offered to ann; bo offline."""
    admin = As(channel)
    admin.UpsertAgent(pb.UpsertAgentRequest(agent_id="ann", state=pb.AGENT_STATE_AVAILABLE))
    admin.UpsertAgent(pb.UpsertAgentRequest(agent_id="bo"))
    admin.Enqueue(
        pb.EnqueueRequest(
            interaction_id="i1",
            channel=pb.CHANNEL_CHAT,
            customer_id="cust-LOGCHECK-9",
            context=_values(card=CARD, note=NOTE),
        )
    )


def _context(reader: As, iid: str = "i1") -> dict[str, Any]:
    got: pb.Interaction = reader.GetInteraction(pb.GetInteractionRequest(interaction_id=iid))
    return {k: v.string_value for k, v in got.context.fields.items()}


def test_a_viewer_sees_the_keys_and_no_value(channel: grpc.Channel) -> None:
    _offered(channel)
    assert _context(As(channel, "viewer")) == {"card": MASK, "note": MASK}
    for role in ("admin", "router"):
        assert _context(As(channel, role)) == {"card": CARD, "note": NOTE}


def test_an_agent_sees_sensitive_values_only_of_its_own_interactions(
    channel: grpc.Channel,
) -> None:
    _offered(channel)
    assert _context(As(channel, "agent", agent="ann")) == {"card": CARD, "note": NOTE}
    assert _context(As(channel, "agent", agent="bo")) == {"card": MASK, "note": NOTE}
    As(channel).Accept(pb.AcceptRequest(interaction_id="i1", agent_id="ann"))
    assert _context(As(channel, "agent", agent="ann")) == {"card": CARD, "note": NOTE}
    assert _context(As(channel, "agent", agent="")) == {"card": MASK, "note": NOTE}


def test_an_offer_on_the_watch_stream_carries_the_values_to_its_agent(
    server: Running, channel: grpc.Channel
) -> None:
    admin = As(channel)
    admin.UpsertAgent(pb.UpsertAgentRequest(agent_id="ann", state=pb.AGENT_STATE_AVAILABLE))
    streams = {}
    for who, reader in (
        ("ann", As(channel, "agent", agent="ann")),
        ("viewer", As(channel, "viewer")),
    ):
        streams[who] = reader.WatchAssignments(
            pb.WatchAssignmentsRequest(agent_ids=["ann"]), timeout=5.0
        )
    router = server.server.tenants.find("default")
    assert router is not None
    wait_for(lambda: router.hub.count("WatchAssignments") == 2, what="both streams open")
    admin.Enqueue(
        pb.EnqueueRequest(
            interaction_id="i1", channel=pb.CHANNEL_CHAT, context=_values(card=CARD, note=NOTE)
        )
    )
    seen = {who: next(stream).interaction.context for who, stream in streams.items()}
    for stream in streams.values():
        stream.cancel()
    assert seen["ann"]["card"] == CARD and seen["ann"]["note"] == NOTE
    assert seen["viewer"]["card"] == MASK and seen["viewer"]["note"] == MASK


def test_no_context_value_in_the_stream_the_history_or_explain(
    server: Running, channel: grpc.Channel
) -> None:
    _offered(channel)
    admin = As(channel)
    update = pb.UpdateContextRequest(interaction_id="i1", context=_values(ssn=SSN))
    admin.UpdateContext(update)
    admin.Reject(pb.RejectRequest(interaction_id="i1", agent_id="ann"))
    got: pb.Interaction = admin.GetInteraction(pb.GetInteractionRequest(interaction_id="i1"))
    assert got.context["ssn"] == SSN  # kept for those who may read it
    history = b"".join(e.SerializeToString() for e in got.history)
    assert any(e.type == pb.EVENT_TYPE_CONTEXT_UPDATED and e.reason == "ssn" for e in got.history)
    why: pb.Explanation = admin.Explain(pb.ExplainRequest(interaction_id="i1"))
    keys = dump(server.settings.prefix)
    stream = "".join(v for k, v in keys.items() if k.endswith(":events"))
    histories = "".join(v for k, v in keys.items() if ":hist:" in k)
    assert stream and histories
    for value in (CARD, NOTE, SSN):
        assert value.encode() not in history and value.encode() not in why.SerializeToString()
        assert value not in stream and value not in histories
        # Only the record holds it, for the agent (docs/security.md says so).
        assert [k for k, v in keys.items() if value in v] == [
            k for k in keys if k.endswith(":ix:i1")
        ]


def test_no_log_line_holds_context_values_reasons_or_customer_ids(
    channel: grpc.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _offered(channel)
    admin = As(channel)
    admin.Reject(pb.RejectRequest(interaction_id="i1", agent_id="ann", reason="REJECT-WHY-1"))
    admin.SetAgentState(
        pb.SetAgentStateRequest(agent_id="bo", state=pb.AGENT_STATE_NOT_READY, reason="PAUSE-WHY-2")
    )
    admin.UpdateContext(pb.UpdateContextRequest(interaction_id="i1", context=_values(ssn=SSN)))
    admin.Cancel(pb.CancelRequest(interaction_id="i1", reason="CANCEL-WHY-3"))
    admin.Enqueue(pb.EnqueueRequest(interaction_id="i2", channel=pb.CHANNEL_CHAT))
    admin.Accept(pb.AcceptRequest(interaction_id="i2", agent_id="ann"))
    admin.Complete(pb.CompleteRequest(interaction_id="i2", disposition="DISPO-WHY-4"))
    admin.ForgetCustomer(pb.ForgetCustomerRequest(customer_id="cust-LOGCHECK-9"))
    with pytest.raises(grpc.RpcError):  # a refusal, its bad value in the request
        admin.Cancel(pb.CancelRequest(interaction_id="i2", reason="BAD-WHY-5\x00"))
    assert any(r.name.startswith("cim_router") for r in caplog.records)  # logs were made
    assert any(r.name == "cim_router.events" for r in caplog.records)
    text = "\n".join(
        f"{r.getMessage()} {r.args!r} {vars(r)!r} {r.exc_text or ''}" for r in caplog.records
    )
    for secret in (CARD, NOTE, SSN, "cust-LOGCHECK-9", "REJECT-WHY-1", "PAUSE-WHY-2"):
        assert secret not in text
    for secret in ("CANCEL-WHY-3", "DISPO-WHY-4", "BAD-WHY-5"):
        assert secret not in text


def test_list_interactions_shows_a_viewer_keys_and_the_router_values(
    channel: grpc.Channel,
) -> None:
    _offered(channel)

    def listed(reader: As) -> dict[str, Any]:
        page: pb.ListInteractionsResponse = reader.ListInteractions(pb.ListInteractionsRequest())
        (only,) = page.interactions
        return {k: v.string_value for k, v in only.context.fields.items()}

    assert listed(As(channel, "viewer")) == {"card": MASK, "note": MASK}
    assert listed(As(channel, "router")) == {"card": CARD, "note": NOTE}
