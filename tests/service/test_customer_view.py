"""GetCustomer over gRPC on a live server: one customer's chat, call and email, newest first
and paged, with their open interactions, last agent and totals (contacts, repeat contacts
as the measures count them, CSAT); NOT_FOUND for a customer not known, or forgotten; bad
input named; context shown as GetInteraction shows it."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from cim_router._pb import router_pb2 as pb
from tests.service.conftest import Client, Running

CHANNELS = (pb.CHANNEL_CHAT, pb.CHANNEL_VOICE, pb.CHANNEL_EMAIL)


def _only(channel: pb.Channel.ValueType) -> list[pb.ChannelCount]:
    return [pb.ChannelCount(channel=c, count=1 if c == channel else 0) for c in CHANNELS]


def _served(client: Client, iid: str, agent_id: str, csat: int, **kw: Any) -> None:
    """Enqueued, offered to and accepted by `agent_id`, completed with a score."""
    client.enqueue(iid, customer_id="c1", **kw)
    client.Accept(pb.AcceptRequest(interaction_id=iid, agent_id=agent_id))
    done = pb.CompleteRequest(interaction_id=iid, agent_id=agent_id, csat=csat)
    client.Complete(done)
    client.Complete(pb.CompleteRequest(interaction_id=iid, agent_id=agent_id))  # wrap-up ends


def _customer(client: Client, customer_id: str = "c1", **kw: Any) -> pb.Customer:
    found: pb.Customer = client.GetCustomer(pb.GetCustomerRequest(customer_id=customer_id, **kw))
    return found


def _code(client: Client, request: pb.GetCustomerRequest) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        client.GetCustomer(request)
    return caught.value.code(), caught.value.details() or ""


@pytest.fixture
def customer(running: Running) -> Client:
    """c1: a chat served by a1 (CSAT 5), then a call served by a2 (CSAT 2), then an email
    nobody can take (QUEUED); c2: one chat."""
    client = running.client()
    client.agent("a1", capacity=_only(pb.CHANNEL_CHAT))
    client.agent("a2", capacity=_only(pb.CHANNEL_VOICE))
    _served(client, "chat-1", "a1", 5, context={"order": "A-1"})
    _served(client, "call-1", "a2", 2, channel=pb.CHANNEL_VOICE)
    client.enqueue("mail-1", customer_id="c1", channel=pb.CHANNEL_EMAIL)
    client.enqueue("chat-9", customer_id="c2")
    return client


def test_a_customers_chat_call_and_email_newest_first_with_totals(customer: Client) -> None:
    found = _customer(customer)
    assert found.customer_id == "c1"
    assert [i.id for i in found.interactions] == ["mail-1", "call-1", "chat-1"]
    assert [i.channel for i in found.interactions] == [
        pb.CHANNEL_EMAIL,
        pb.CHANNEL_VOICE,
        pb.CHANNEL_CHAT,
    ]
    assert [i.state for i in found.interactions] == [
        pb.INTERACTION_STATE_QUEUED,
        pb.INTERACTION_STATE_COMPLETED,
        pb.INTERACTION_STATE_COMPLETED,
    ]
    assert [i.id for i in found.open_interactions] == ["mail-1"]
    assert found.last_agent_id == "a2" and found.last_interaction_id == "mail-1"
    # The call and the email came within the FCR window of being served: repeats.
    t = found.totals
    assert (t.contacts, t.repeat_contacts, t.csat_count, t.open) == (3, 2, 2, 1)
    assert t.HasField("csat_mean") and t.csat_mean == pytest.approx(3.5)
    assert found.interactions[2].context["order"] == "A-1"  # the router role reads values
    assert not found.next_page_token and not found.interactions[0].history
    # The measures counted the same: 2 repeats of the tenant's 4 contacts (c2's included).
    stats = customer.GetStats(pb.GetStatsRequest())
    (overall,) = [
        m
        for m in stats.measures
        if m.window == "15m" and not m.queue_id and m.channel == pb.CHANNEL_UNSPECIFIED
    ]
    assert overall.first_contact_resolution == pytest.approx(0.5)


def test_pages_follow_one_another_without_gaps_or_repeats(customer: Client) -> None:
    first = _customer(customer, page_size=2)
    assert [i.id for i in first.interactions] == ["mail-1", "call-1"] and first.next_page_token
    customer.enqueue("chat-2", customer_id="c1")  # newer: the next page is not shifted
    second = _customer(customer, page_size=2, page_token=first.next_page_token)
    assert [i.id for i in second.interactions] == ["chat-1"] and not second.next_page_token
    assert second.totals.contacts == 4 and [i.id for i in second.open_interactions] == [
        "chat-2",
        "mail-1",
    ]


def test_unknown_forgotten_and_bad_requests(customer: Client, running: Running) -> None:
    assert _code(customer, pb.GetCustomerRequest(customer_id="nobody"))[0] == (
        grpc.StatusCode.NOT_FOUND
    )
    ghost = running.client("no-such-tenant")
    assert _code(ghost, pb.GetCustomerRequest(customer_id="c1"))[0] == grpc.StatusCode.NOT_FOUND
    assert _customer(customer, "c2").totals.contacts == 1
    customer.ForgetCustomer(pb.ForgetCustomerRequest(customer_id="c1"))
    assert _code(customer, pb.GetCustomerRequest(customer_id="c1"))[0] == (
        grpc.StatusCode.NOT_FOUND
    )
    assert [i.id for i in _customer(customer, "c2").interactions] == ["chat-9"]
    for request, field in (
        (pb.GetCustomerRequest(), "customer_id"),
        (pb.GetCustomerRequest(customer_id="x" * 129), "customer_id"),
        (pb.GetCustomerRequest(customer_id="c2", page_size=1001), "page_size"),
        (pb.GetCustomerRequest(customer_id="c2", page_token="not-a-token"), "page_token"),
    ):
        code, details = _code(customer, request)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith(f"{field}:")


def test_the_open_interactions_listed_are_the_newest_hundred(client: Client) -> None:
    for n in range(101):
        client.enqueue(f"m{n:03}", customer_id="c5", channel=pb.CHANNEL_EMAIL)
    found = _customer(client, "c5", page_size=1)
    assert found.totals.open == found.totals.contacts == 101
    assert [i.id for i in found.open_interactions] == [f"m{n:03}" for n in range(100, 0, -1)]
    assert [i.id for i in found.interactions] == ["m100"]
