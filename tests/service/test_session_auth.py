"""A Session with --auth: the stream's credential checked at its start (a refusal ends it),
then each call checked as the unary call it is, refused in its own answer while the stream
goes on; a refused call changes nothing; admin calls made over a session are audited."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from cim_router._pb import router_pb2 as pb
from tests.service.auth_support import (
    PERMISSION_DENIED,
    UNAUTHENTICATED,
    AuthServer,
    provision,
    serving,
)
from tests.service.session_support import SyncSession

DENIED = PERMISSION_DENIED.value[0]


@pytest.fixture(scope="module")
def server() -> Iterator[AuthServer]:
    yield from serving()


@pytest.fixture(scope="module")
def keys(server: AuthServer) -> dict[str, str]:
    operator = provision(server, "acme", "other")
    admin = server.caller(operator)
    for agent in ("a1", "a2"):
        admin.ok(
            "UpsertAgent", pb.UpsertAgentRequest(agent_id=agent, state=pb.AGENT_STATE_AVAILABLE)
        )
    admin.ok("Enqueue", pb.EnqueueRequest(interaction_id="i1", channel=pb.CHANNEL_CHAT))
    return {
        "agent": server.new_key("acme", "agent", "--agent-id", "a1"),
        "viewer": server.new_key("acme", "viewer"),
        "admin": server.new_key("acme", "admin"),
        "foreign": server.new_key("other", "admin"),
    }


def open_session(server: AuthServer, token: str | None, tenant: str = "acme") -> SyncSession:
    return SyncSession(server.stub(), server.caller(token, tenant).metadata())


@pytest.mark.parametrize(
    ("who", "code"),
    [(None, UNAUTHENTICATED), ("bad", UNAUTHENTICATED), ("foreign", PERMISSION_DENIED)],
)
def test_a_refused_credential_ends_the_stream_at_its_start(
    server: AuthServer, keys: dict[str, str], who: str | None, code: grpc.StatusCode
) -> None:
    token = {"bad": "Bearer cimk_nothex_short"}.get(who or "", keys.get(who or "", "")) or None
    before = server.stored()
    s = open_session(server, token)
    s.send(enqueue=pb.EnqueueRequest(interaction_id="x1", channel=pb.CHANNEL_CHAT))
    s.wait(lambda: s.code is not None, what="the stream's end")
    assert s.code == code and not s.answers, (s.code, s.details)
    assert server.stored() == before


def test_an_agent_key_calls_for_its_own_agent_only_each_call_checked(
    server: AuthServer, keys: dict[str, str]
) -> None:
    before = server.stored()
    s = open_session(server, keys["agent"])
    refused: dict[str, dict[str, Any]] = {
        "other agent": {"get_agent": pb.GetAgentRequest(agent_id="a2")},
        "not its role": {
            "enqueue": pb.EnqueueRequest(interaction_id="x2", channel=pb.CHANNEL_CHAT)
        },
        "every agent": {"subscribe": pb.WatchAssignmentsRequest()},
        "set another": {
            "set_agent_state": pb.SetAgentStateRequest(
                agent_id="a2", state=pb.AGENT_STATE_NOT_READY
            )
        },
    }
    for what, call in refused.items():
        error = s.error(**call)
        assert error.code == DENIED, (what, error)
    assert server.stored() == before  # the refused calls changed nothing
    # The same stream still serves what the key may do.
    assert s.ok(get_agent=pb.GetAgentRequest(agent_id="a1")).id == "a1"
    assert list(s.ok(subscribe=pb.WatchAssignmentsRequest(agent_ids=["a1"])).agent_ids) == ["a1"]
    assert s.close() == grpc.StatusCode.OK


def test_a_viewer_reads_but_writes_nothing_over_a_session(
    server: AuthServer, keys: dict[str, str]
) -> None:
    s = open_session(server, keys["viewer"])
    assert s.ok(get_agent=pb.GetAgentRequest(agent_id="a1")).id == "a1"
    error = s.error(cancel=pb.CancelRequest(interaction_id="i1"))
    assert error.code == DENIED and "viewer" in error.message
    s.close()


def test_admin_calls_over_a_session_are_audited_as_unary_calls(
    server: AuthServer, keys: dict[str, str]
) -> None:
    s = open_session(server, keys["admin"])
    s.ok(upsert_agent=pb.UpsertAgentRequest(agent_id="a3", state=pb.AGENT_STATE_OFFLINE))
    s.close()
    audit = server.caller(keys["admin"]).ok("ListAudit", pb.ListAuditRequest())
    found = [(e.action, e.target, e.outcome) for e in audit.entries]
    assert ("UpsertAgent", "a3", "ok") in found, found
