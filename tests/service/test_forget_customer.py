"""ForgetCustomer over gRPC on a real Redis: afterwards nothing of the customer is left in
any key, name or value; it holds across restarts; and customer ids never name a key."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
import redis
from google.protobuf import struct_pb2

from cim_router._pb import router_pb2 as pb
from cim_router.store import compact
from cim_router.store.keys import Keys
from tests.redis_server import drop_prefix, redis_url
from tests.service.conftest import Client, Running, start_server, wait_for
from tests.service.redis_dump import dump, everything

CUSTOMER = "cust-zq81-alice"
SECRETS = ("4111-9931-7777", "MAIDEN-NAME-QX")


def _context(**values: str) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(values)
    return out


def _history(running: Running) -> None:
    """CUSTOMER: c1 completed with ann, c2 waiting; someone else's o1 waiting."""
    client = running.client()
    client.agent("ann", skills={"billing": 5})
    client.enqueue("c1", customer_id=CUSTOMER, context=_context(card=SECRETS[0]))
    client.Accept(pb.AcceptRequest(interaction_id="c1", agent_id="ann"))
    client.UpdateContext(
        pb.UpdateContextRequest(interaction_id="c1", context=_context(maiden=SECRETS[1]))
    )
    client.Complete(pb.CompleteRequest(interaction_id="c1", agent_id="ann"))
    wait_for(lambda: client.get("c1").state == pb.INTERACTION_STATE_COMPLETED, what="wrap-up")
    client.SetAgentState(pb.SetAgentStateRequest(agent_id="ann", state=pb.AGENT_STATE_OFFLINE))
    client.enqueue("c2", customer_id=CUSTOMER, context=_context(order="ORD-55"))
    client.enqueue("o1", customer_id="someone-else", context=_context(order="ORD-66"))


def _forget(client: Client, customer_id: str = CUSTOMER) -> pb.ForgetCustomerResponse:
    found: pb.ForgetCustomerResponse = client.ForgetCustomer(
        pb.ForgetCustomerRequest(customer_id=customer_id)
    )
    return found


def _left_of_the_customer(running: Running) -> list[str]:
    text = everything(running.settings.prefix)
    keys = dump(running.settings.prefix)
    found = [s for s in (CUSTOMER, *SECRETS, "ORD-55") if s in text]
    found += [k for k in keys if ":hist:c1" in k or ":hist:c2" in k]
    found += [f"history in the record of {i}" for i in ("c1", "c2") if _folded(running, i)]
    found += [k for k, v in keys.items() if k.endswith(":events") and ("c1" in v or "c2" in v)]
    return found


def _folded(running: Running, interaction_id: str) -> int:
    """How many history entries the interaction's record holds (closed, compact records)."""
    client = redis.Redis.from_url(redis_url())
    try:
        stored = client.get(Keys(running.settings.prefix).interaction("default", interaction_id))
    finally:
        client.close()
    return len(compact.folded_history(stored)) if isinstance(stored, bytes) else 0


@pytest.fixture
def server() -> Iterator[Running]:
    running = start_server()
    try:
        yield running
    finally:
        running.stop()
        drop_prefix(running.settings.prefix)


def test_forget_leaves_nothing_of_the_customer_in_redis(server: Running) -> None:
    _history(server)
    assert len(_left_of_the_customer(server)) >= 5  # what there is to erase
    client = server.client()
    out = _forget(client)
    assert out.customer_id == CUSTOMER and list(out.interaction_ids) == ["c1", "c2"]
    assert out.history_events_erased >= 6 and out.stream_events_erased >= 6
    assert out.customer_index_erased
    assert _left_of_the_customer(server) == []
    # The records stay, anonymous; someone else's are untouched.
    for iid in ("c1", "c2"):
        kept = client.get(iid)
        assert kept.customer_id == "" and not kept.context.fields and not kept.history
    assert client.get("c1").state == pb.INTERACTION_STATE_COMPLETED
    other = client.get("o1")
    assert other.customer_id == "someone-else" and other.context["order"] == "ORD-66"
    assert "ORD-66" in everything(server.settings.prefix)
    stats = client.GetStats(pb.GetStatsRequest())
    assert stats.completed == 1 and stats.answered == 1  # the counts still add up


def test_a_second_forget_erases_nothing_and_says_so(server: Running) -> None:
    _history(server)
    client = server.client()
    _forget(client)
    again = _forget(client)
    assert list(again.interaction_ids) == [] and not again.customer_index_erased
    assert again.history_events_erased == 0 and again.stream_events_erased == 0
    unknown = server.client("no-such-tenant")
    assert list(_forget(unknown).interaction_ids) == []


def test_a_forgotten_open_interaction_keeps_routing(server: Running) -> None:
    _history(server)
    client = server.client()
    _forget(client)
    client.SetAgentState(pb.SetAgentStateRequest(agent_id="ann", state=pb.AGENT_STATE_AVAILABLE))
    wait_for(lambda: client.get("c2").state == pb.INTERACTION_STATE_OFFERED, what="an offer")
    accepted = client.Accept(pb.AcceptRequest(interaction_id="c2", agent_id="ann"))
    assert accepted.state == pb.INTERACTION_STATE_ASSIGNED and accepted.customer_id == ""


def test_forget_holds_across_restarts_and_reloaded_interactions_can_be_forgotten() -> None:
    first = start_server()
    try:
        _history(first)
        first.stop()
        second = start_server(settings=first.settings)  # c2 reloaded from Redis
        try:
            client = second.client()
            assert client.get("c2").customer_id == CUSTOMER
            assert list(_forget(client).interaction_ids) == ["c1", "c2"]
        finally:
            second.stop()
        third = start_server(settings=first.settings)
        try:
            client = third.client()
            assert client.get("c2").customer_id == "" and not client.get("c2").context.fields
            assert list(_forget(client).interaction_ids) == []
            assert _left_of_the_customer(third) == []
        finally:
            third.stop()
    finally:
        drop_prefix(first.settings.prefix)


def test_no_customer_id_names_a_key(server: Running) -> None:
    client = server.client()
    ids = [f"cust-{n}-mailbox@example.com" for n in range(5)]
    for n, customer_id in enumerate(ids):
        client.enqueue(f"i{n}", customer_id=customer_id)
        client.enqueue(f"j{n}", customer_id=customer_id)  # a returning customer
    assert client.get("j3").linked_interaction_id == "i3"  # the index still finds them
    names = list(dump(server.settings.prefix))
    assert any(":cus:" in name for name in names)  # the customer's record and index
    assert [n for n in names if any(c in n for c in ids) or "mailbox" in n] == []


def test_a_bad_customer_id_is_invalid_argument_and_names_the_field(server: Running) -> None:
    client = server.client()
    for bad in ("", "x" * 129, "a\x00b"):
        with pytest.raises(grpc.RpcError) as refused:
            _forget(client, bad)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (refused.value.details() or "").startswith("customer_id:")
