"""Offers on the server's clock: expiry, reject, missed offers, pull and the watch stream."""

from __future__ import annotations

import threading
import time
from typing import Any

import grpc
import pytest

from cim_router._pb import router_pb2 as pb
from tests.service.conftest import Client, Running, wait_for


def test_unanswered_offer_goes_to_the_next_agent_and_excludes_the_first(client: Client) -> None:
    client.agent("a1")
    client.agent("a2")
    first = client.enqueue("i1").interaction.offer.agent_id
    other = {"a1": "a2", "a2": "a1"}[first]
    wait_for(lambda: client.get("i1").offer.agent_id == other, what="re-offer")
    i = client.get("i1")
    assert list(i.excluded_agent_ids) == [first]
    assert client.get_agent(first).missed_offers == 1
    assert client.get_agent(first).load == []
    types = [pb.EventType.Name(e.type) for e in i.history]
    assert types[-3:] == ["EVENT_TYPE_OFFER_EXPIRED", "EVENT_TYPE_REQUEUED", "EVENT_TYPE_OFFERED"]


def test_reject_requeues_at_the_original_position_and_reoffers(client: Client) -> None:
    client.agent("a1")
    client.enqueue("i1")
    client.SetAgentState(pb.SetAgentStateRequest(agent_id="a1", state=pb.AGENT_STATE_NOT_READY))
    client.enqueue("i2")
    rejected = client.Reject(pb.RejectRequest(interaction_id="i1", agent_id="a1", reason="busy"))
    assert rejected.state == pb.INTERACTION_STATE_QUEUED
    assert list(rejected.excluded_agent_ids) == ["a1"]
    # i1 keeps its enqueue time, so it is still ahead of the later i2.
    assert client.enqueue("i1").position == 1
    client.agent("a2")
    assert client.get("i1").offer.agent_id == "a2"
    assert client.get_agent("a1").missed_offers == 0


def test_missed_offers_in_a_row_put_the_agent_not_ready(client: Client) -> None:
    client.agent("a1")
    client.enqueue("i1")
    wait_for(lambda: client.get_agent("a1").missed_offers == 1, what="first miss")
    client.enqueue("i2")
    wait_for(lambda: client.get_agent("a1").state == pb.AGENT_STATE_NOT_READY, what="NOT_READY")
    a = client.get_agent("a1")
    assert a.missed_offers == 2 and "missed" in a.not_ready_reason
    assert a.load == []
    assert client.get("i2").state == pb.INTERACTION_STATE_QUEUED


def test_accept_resets_missed_offers(client: Client) -> None:
    client.agent("a1")
    client.enqueue("i1")
    wait_for(lambda: client.get_agent("a1").missed_offers == 1, what="miss")
    client.enqueue("i2")
    client.Accept(pb.AcceptRequest(interaction_id="i2", agent_id="a1"))
    assert client.get_agent("a1").missed_offers == 0


def test_assign_pulls_the_agents_next_interaction(client: Client) -> None:
    client.enqueue("i1")
    client.agent("a1")
    r = client.Assign(pb.AssignRequest(agent_id="a1"))
    assert r.matched and r.interaction.id == "i1"
    assert r.interaction.state == pb.INTERACTION_STATE_ASSIGNED
    empty = client.Assign(pb.AssignRequest(agent_id="a1"))
    assert not empty.matched


def test_assign_waits_until_the_deadline_for_work(client: Client) -> None:
    client.agent("a1")
    later = threading.Timer(0.3, lambda: client.enqueue("late"))
    later.start()
    started = time.monotonic()
    r = client.Assign(pb.AssignRequest(agent_id="a1", wait=True), timeout=3.0)
    assert r.matched and r.interaction.id == "late"
    assert time.monotonic() - started < 2.0
    started = time.monotonic()
    r = client.Assign(pb.AssignRequest(agent_id="a1", wait=True), timeout=0.5)
    assert not r.matched
    assert 0.3 < time.monotonic() - started < 1.5


def test_assign_for_an_interaction_names_its_agent(client: Client) -> None:
    client.enqueue("i1")
    r = client.Assign(pb.AssignRequest(interaction_id="i1"))
    assert not r.matched and r.interaction.state == pb.INTERACTION_STATE_QUEUED
    threading.Timer(0.2, lambda: client.agent("a1")).start()
    r = client.Assign(pb.AssignRequest(interaction_id="i1", wait=True), timeout=3.0)
    assert r.matched and r.agent_id == "a1"


def test_assign_refusals(client: Client) -> None:
    client.UpsertAgent(pb.UpsertAgentRequest(agent_id="off"))
    cases: list[tuple[Any, grpc.StatusCode]] = [
        (pb.AssignRequest(), grpc.StatusCode.INVALID_ARGUMENT),
        (pb.AssignRequest(agent_id="ghost"), grpc.StatusCode.NOT_FOUND),
        (pb.AssignRequest(agent_id="off"), grpc.StatusCode.FAILED_PRECONDITION),
        (pb.AssignRequest(interaction_id="ghost"), grpc.StatusCode.NOT_FOUND),
    ]
    for request, code in cases:
        with pytest.raises(grpc.RpcError) as err:
            client.Assign(request)
        assert err.value.code() == code


def test_watch_streams_offers_and_assignments_for_chosen_agents(
    running: Running, client: Client
) -> None:
    client.agent("a1")
    stream = client.stub.WatchAssignments(pb.WatchAssignmentsRequest(agent_ids=["a1"]), timeout=5.0)
    seen: list[pb.AssignmentEvent] = []

    def read() -> None:
        for event in stream:
            seen.append(event)
            if len(seen) == 3:
                return

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.2)  # the stream is open before the work arrives
    client.enqueue("i1")
    client.Accept(pb.AcceptRequest(interaction_id="i1", agent_id="a1"))
    client.Complete(pb.CompleteRequest(interaction_id="i1"))
    reader.join(5)
    stream.cancel()  # type: ignore[no-untyped-call]
    kinds = [
        pb.AssignmentEventType.Name(e.type).removeprefix("ASSIGNMENT_EVENT_TYPE_") for e in seen
    ]
    assert kinds == ["OFFERED", "ASSIGNED", "RELEASED"]
    assert {e.agent_id for e in seen} == {"a1"}
    assert seen[0].interaction.offer.expires_at.ToNanoseconds() > 0


def test_watch_all_agents_of_the_tenant_only(running: Running) -> None:
    mine, theirs = running.client("t1"), running.client("t2")
    mine.agent("a1")
    theirs.agent("b1")
    stream = mine.stub.WatchAssignments(
        pb.WatchAssignmentsRequest(), timeout=5.0, metadata=(("x-cim-tenant", "t1"),)
    )
    seen: list[str] = []

    def read() -> None:
        for event in stream:
            seen.append(event.interaction.id)
            if len(seen) == 1:
                return

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.2)
    theirs.enqueue("other-tenant")
    mine.enqueue("mine")
    reader.join(5)
    stream.cancel()  # type: ignore[no-untyped-call]
    assert seen == ["mine"]


def test_relaxation_offers_on_the_servers_clock_without_a_client_call() -> None:
    from cim_router.domain.policy import RelaxationStep
    from tests.service.conftest import fast_policy, start_server

    running = start_server(fast_policy(relaxation=(RelaxationStep(0.3, level_drop=1),)))
    try:
        client = running.client()
        client.agent("a1", skills={"billing": 4})
        r = client.enqueue(
            "i1", required_skills=[pb.SkillRequirement(skill="billing", min_level=5)]
        )
        assert r.interaction.state == pb.INTERACTION_STATE_QUEUED
        wait_for(lambda: client.get("i1").offer.agent_id == "a1", what="offer after relaxing")
        explanation = client.Explain(pb.ExplainRequest(interaction_id="i1"))
        assert explanation.relaxation_step == 1
    finally:
        running.stop()
