"""The Session stream on a live server over Redis: each call answered with its correlation
id, its result or its error, the stream going on after an error; bad input naming the
field; request ids shared with the unary calls; subscriptions' events; many calls in
flight; the stream's end after a half-close and at a server stop."""

from __future__ import annotations

import grpc
import pytest

from cim_router._pb import router_pb2 as pb
from cim_router.domain.limits import MAX_SESSION_IN_FLIGHT
from tests.service.conftest import Client, Running, wait_for
from tests.service.session_support import SyncSession

INVALID = grpc.StatusCode.INVALID_ARGUMENT.value[0]
NOT_FOUND = grpc.StatusCode.NOT_FOUND.value[0]
ALREADY_EXISTS = grpc.StatusCode.ALREADY_EXISTS.value[0]


def session(client: Client) -> SyncSession:
    return SyncSession(client.stub, (("x-cim-tenant", client.tenant),))


def chat(interaction_id: str, **kw: object) -> pb.EnqueueRequest:
    return pb.EnqueueRequest(interaction_id=interaction_id, channel=pb.CHANNEL_CHAT, **kw)  # type: ignore[arg-type]


def test_an_interaction_life_through_one_session(running: Running, client: Client) -> None:
    s = session(client)
    agent = s.ok(upsert_agent=pb.UpsertAgentRequest(agent_id="a1", state=pb.AGENT_STATE_AVAILABLE))
    assert agent.id == "a1"
    sub = s.answer(s.send("watch", subscribe=pb.WatchAssignmentsRequest(agent_ids=["a1"])))
    assert sub.correlation_id == "watch" and list(sub.subscribe.agent_ids) == ["a1"]
    got = s.answer(s.send("e1", enqueue=chat("i1")))
    assert got.correlation_id == "e1" and got.WhichOneof("result") == "enqueue"
    assert got.enqueue.created and got.enqueue.interaction.id == "i1"
    offer = s.event(type=pb.ASSIGNMENT_EVENT_TYPE_OFFERED, agent_id="a1")
    assert offer.correlation_id == "watch" and offer.event.interaction.id == "i1"
    accepted = s.answer(s.send("acc", accept=pb.AcceptRequest(interaction_id="i1", agent_id="a1")))
    assert accepted.WhichOneof("result") == "accept"
    assert accepted.accept.state == pb.INTERACTION_STATE_ASSIGNED
    s.event(type=pb.ASSIGNMENT_EVENT_TYPE_ASSIGNED, agent_id="a1")
    done = s.ok(complete=pb.CompleteRequest(interaction_id="i1", disposition="resolved"))
    assert done.state in (pb.INTERACTION_STATE_WRAP_UP, pb.INTERACTION_STATE_COMPLETED)
    assert s.close() == grpc.StatusCode.OK
    # What the session answered is what the unary calls read.
    assert client.get("i1").disposition == "resolved"


def test_an_error_is_one_answer_and_the_stream_goes_on(client: Client) -> None:
    s = session(client)
    bad = s.error("bad", enqueue=pb.EnqueueRequest(channel=pb.CHANNEL_CHAT))
    assert bad.code == INVALID and bad.field == "interaction_id"
    assert bad.message == "interaction_id: must not be empty"
    assert s.answers["bad"][0].correlation_id == "bad"
    missing = s.error(accept=pb.AcceptRequest(interaction_id="nope", agent_id="a1"))
    assert missing.code == NOT_FOUND and missing.field == ""
    deep = s.error(
        transfer=pb.TransferRequest(
            interaction_id="i1",
            mode=pb.TRANSFER_MODE_COLD,
            skills=pb.SkillTarget(required_skills=[pb.SkillRequirement()]),
        )
    )
    assert deep.code == INVALID and deep.field.startswith("skills.required_skills[0]"), deep
    assert s.error(correlation_id="empty").field == "call"
    bad_id = s.error(request_id="\x01", get_agent=pb.GetAgentRequest(agent_id="a1"))
    assert bad_id.code == INVALID and bad_id.field == "request_id"
    long_cid = "x" * 129
    s.send(long_cid, get_agent=pb.GetAgentRequest(agent_id="a1"))
    refused = s.answer("")  # an id that cannot be echoed is not
    assert refused.error.field == "correlation_id"
    assert s.ok(enqueue=chat("i2")).created  # after all of it, calls still work
    assert s.close() == grpc.StatusCode.OK
    # The refused calls changed nothing.
    with pytest.raises(grpc.RpcError) as err:
        client.get("nope")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_request_ids_are_those_of_the_unary_calls(client: Client) -> None:
    s = session(client)
    first = s.ok(request_id="r1", enqueue=chat("i1", priority=3))
    again = s.ok(request_id="r1", enqueue=chat("i1", priority=3))
    assert first.created and again.created  # the first call's outcome, not a duplicate
    other = s.error(request_id="r1", enqueue=chat("i9"))
    assert other.code == ALREADY_EXISTS
    # One request-id space: a unary retry of a session's call answers as the session did.
    meta = (("x-cim-tenant", client.tenant), ("x-cim-request-id", "r1"))
    retried = client.stub.Enqueue(chat("i1", priority=3), metadata=meta, timeout=5)
    assert retried.created and retried.interaction.id == "i1"
    history = client.get("i1").history
    assert sum(e.type == pb.EVENT_TYPE_ENQUEUED for e in history) == 1
    s.close()


def test_many_calls_in_flight_are_each_answered_once(client: Client) -> None:
    s = session(client)
    n = MAX_SESSION_IN_FLIGHT * 2 + 10  # past the bound: the server holds the rest back
    ids = [s.send(f"c{k}", enqueue=chat(f"i{k}")) for k in range(n)]
    s.wait(lambda: len(s.order) == n, timeout=60, what=f"{n} answers")
    assert sorted(s.order) == sorted(ids)
    for k in range(n):
        got = s.answers[f"c{k}"]
        assert len(got) == 1 and got[0].enqueue.interaction.id == f"i{k}"
    assert s.close() == grpc.StatusCode.OK
    stats = client.GetStats(pb.GetStatsRequest())
    assert stats.waiting == n


def test_a_durable_wait_does_not_hold_the_next_call(client: Client) -> None:
    """A read sent after a write is answered without waiting for the write's commit: the
    calls run concurrently, so the read's answer can come first. Calls run one after the
    other would answer every write first; which comes first here is the scheduler's, so
    the test asks only that some reads overtook their write."""
    client.agent("a1")
    s = session(client)
    seen_first = 0
    for k in range(20):
        s.send(f"w{k}", enqueue=chat(f"i{k}"))
        s.send(f"r{k}", get_agent=pb.GetAgentRequest(agent_id="a1"))
        s.wait(lambda k=k: f"w{k}" in s.answers and f"r{k}" in s.answers)
        seen_first += s.order.index(f"r{k}") < s.order.index(f"w{k}")
    assert seen_first >= 1, seen_first
    s.close()


def test_subscribe_follows_the_agents_named_and_a_new_one_replaces_it(client: Client) -> None:
    client.agent("a1", skills={"billing": 5})
    client.agent("a2", skills={"sales": 5})
    s = session(client)
    s.ok("sub1", subscribe=pb.WatchAssignmentsRequest(agent_ids=["a2"]))
    client.enqueue("i1", required_skills=[pb.SkillRequirement(skill="billing")])
    client.enqueue("i2", required_skills=[pb.SkillRequirement(skill="sales")])
    e = s.event(type=pb.ASSIGNMENT_EVENT_TYPE_OFFERED, agent_id="a2")
    assert e.correlation_id == "sub1" and e.event.interaction.id == "i2"
    assert all(x.event.agent_id == "a2" for x in s.events)  # nothing of a1's
    s.ok("sub2", subscribe=pb.WatchAssignmentsRequest(agent_ids=["a1"]))
    client.Cancel(pb.CancelRequest(interaction_id="i2"))  # a2's: no longer followed
    client.Cancel(pb.CancelRequest(interaction_id="i1"))
    ended = s.event(type=pb.ASSIGNMENT_EVENT_TYPE_OFFER_ENDED, agent_id="a1")
    assert ended.correlation_id == "sub2" and ended.event.interaction.id == "i1"
    assert [x.event.agent_id for x in s.events if x.correlation_id == "sub2"] == ["a1"] * len(
        [x for x in s.events if x.correlation_id == "sub2"]
    )
    assert not [
        x
        for x in s.events
        if x.event.type == pb.ASSIGNMENT_EVENT_TYPE_OFFER_ENDED and x.event.agent_id == "a2"
    ]
    bad = s.error(subscribe=pb.WatchAssignmentsRequest(agent_ids=[""]))
    assert bad.code == INVALID and bad.field == "agent_ids[0]"
    s.close()


def test_a_server_stop_answers_what_it_read_then_ends_the_stream(running: Running) -> None:
    client = running.client()
    s = session(client)
    for k in range(50):
        s.send(f"c{k}", enqueue=chat(f"i{k}"))
    s.answer("c0")
    running.run(running.server.stop(5.0))
    s.wait(lambda: s.code is not None, what="the stream's end")
    assert s.code == grpc.StatusCode.UNAVAILABLE, (s.code, s.details)
    assert len(s.order) == len(set(s.order))


def test_a_client_gone_mid_session_leaves_nothing_open(running: Running, client: Client) -> None:
    s = session(client)
    s.ok("sub", subscribe=pb.WatchAssignmentsRequest(agent_ids=["a1"]))
    for k in range(30):
        s.send(f"c{k}", enqueue=chat(f"i{k}"))
    s.cancel()
    servicer = running.server.servicer
    wait_for(lambda: not servicer.sessions, what="the session to end on the server")

    def unsubscribed() -> bool:
        router = running.server.tenants.find("default")
        return router is None or len(router.hub) == 0

    wait_for(unsubscribed, what="its subscription to be dropped")
    assert client.GetStats(pb.GetStatsRequest()).waiting <= 30  # and the server serves on
