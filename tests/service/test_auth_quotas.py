"""Per-key quotas on a live server: a request rate (token bucket) and caps on open
WatchAssignments streams and waiting Assign calls, each RESOURCE_EXHAUSTED past it and
recovering as the bucket refills or the held calls end."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from cim_router._pb import router_pb2 as pb
from tests.service.auth_support import (
    EXHAUSTED,
    OK,
    AuthServer,
    key_id,
    provision,
    serving,
)
from tests.service.conftest import wait_for

STATS = pb.GetStatsRequest()


@pytest.fixture
def server() -> Iterator[AuthServer]:
    yield from serving()


def _held(server: AuthServer, token: str, what: str) -> int:
    """How many streams or waiting calls the server counts against the key now."""
    access: Any = server.running.server.access
    quota = access.quota_of(key_id(token))
    return -1 if quota is None else int(getattr(quota, what))


def test_past_its_rate_a_key_is_refused_until_the_bucket_refills(server: AuthServer) -> None:
    provision(server, "acme")
    token = server.new_key("acme", "viewer", "--rate", "5", "--burst", "3")
    other = server.caller(server.new_key("acme", "viewer"))
    caller = server.caller(token)
    codes = [caller.call("GetStats", STATS)[0] for _ in range(3)]
    assert codes == [OK, OK, OK]
    code, details = caller.call("GetStats", STATS)
    assert code == EXHAUSTED and "request rate" in details
    assert other.call("GetStats", STATS)[0] == OK  # another key has its own bucket
    time.sleep(0.25)  # 5/s: one token back after 0.2 s
    assert caller.call("GetStats", STATS)[0] == OK
    assert caller.call("GetStats", STATS)[0] == EXHAUSTED


def test_a_refused_write_past_the_rate_changes_nothing(server: AuthServer) -> None:
    provision(server, "acme")
    caller = server.caller(server.new_key("acme", "admin", "--rate", "0.5", "--burst", "1"))
    assert caller.call("GetStats", STATS)[0] == OK
    before = server.stored()
    request = pb.UpsertAgentRequest(agent_id="a1", state=pb.AGENT_STATE_AVAILABLE)
    assert caller.call("UpsertAgent", request)[0] == EXHAUSTED
    assert server.stored() == before


def test_a_key_holds_at_most_its_watch_streams(server: AuthServer) -> None:
    provision(server, "acme")
    token = server.new_key("acme", "router", "--max-watch-streams", "1")
    caller = server.caller(token)
    first: Any = server.stub().WatchAssignments(
        pb.WatchAssignmentsRequest(), timeout=10, metadata=caller.metadata()
    )
    wait_for(lambda: _held(server, token, "watch_streams") == 1, 5, "the first stream")
    code, details = caller.call("WatchAssignments", pb.WatchAssignmentsRequest(), timeout=2)
    assert code == EXHAUSTED and "WatchAssignments streams" in details
    first.cancel()
    wait_for(lambda: _held(server, token, "watch_streams") == 0, 5, "the first stream's end")
    code, _ = caller.call("WatchAssignments", pb.WatchAssignmentsRequest(), timeout=0.5)
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED  # open, until its deadline


def test_a_keys_watch_streams_count_its_event_streams_too(server: AuthServer) -> None:
    provision(server, "acme")
    token = server.new_key("acme", "router", "--max-watch-streams", "1")
    caller = server.caller(token)
    first: Any = server.stub().WatchEvents(
        pb.WatchEventsRequest(), timeout=10, metadata=caller.metadata()
    )
    wait_for(lambda: _held(server, token, "watch_streams") == 1, 5, "the event stream")
    for method, request in (
        ("WatchEvents", pb.WatchEventsRequest()),
        ("WatchAssignments", pb.WatchAssignmentsRequest()),
    ):
        code, details = caller.call(method, request, timeout=2)
        assert code == EXHAUSTED and "WatchEvents streams" in details, method
    first.cancel()
    wait_for(lambda: _held(server, token, "watch_streams") == 0, 5, "the event stream's end")
    code, _ = caller.call("WatchEvents", pb.WatchEventsRequest(), timeout=0.5)
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED  # open, until its deadline


def test_a_key_has_at_most_its_waiting_assigns(server: AuthServer) -> None:
    operator = provision(server, "acme")
    server.caller(operator).ok(
        "UpsertAgent", pb.UpsertAgentRequest(agent_id="a1", state=pb.AGENT_STATE_AVAILABLE)
    )
    token = server.new_key("acme", "agent", "--agent-id", "a1", "--max-waiting-assigns", "1")
    caller = server.caller(token)
    wait = pb.AssignRequest(agent_id="a1", wait=True)
    answers: list[Any] = []
    parked = threading.Thread(target=lambda: answers.append(caller.call("Assign", wait, 1.5)))
    parked.start()
    wait_for(lambda: _held(server, token, "waiting_assigns") == 1, 5, "the parked Assign")
    code, details = caller.call("Assign", wait, timeout=1.0)
    assert code == EXHAUSTED and "Assign calls waiting" in details
    # An Assign that does not wait is not held against the cap.
    code, reply = caller.call("Assign", pb.AssignRequest(agent_id="a1"))
    assert code == OK and not reply.matched
    parked.join(5)
    assert answers and answers[0][0] == OK and not answers[0][1].matched
    assert _held(server, token, "waiting_assigns") == 0
    code, reply = caller.call("Assign", wait, timeout=0.5)
    assert code == OK and not reply.matched
