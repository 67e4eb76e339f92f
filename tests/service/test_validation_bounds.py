"""Every bounded string and repeated field of every request, and every other field rule:
refused over its limit naming the field, kept at it, and a doubled tenant header refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message

from cim_router._pb import router_pb2 as pb
from cim_router._pb import router_pb2_grpc
from cim_router.domain import limits
from tests.service.conftest import Client, Running
from tests.service.validation import (
    WARM,
    refused,
    struct,
    world,
)

Req = pb.SkillRequirement


# --- strings and repeated fields with a bound ------------------------------------------------

LONG_REASON = "r" * (limits.MAX_REASON_LENGTH + 1)


def bounded_cases(c: Client) -> list[tuple[str, Callable[[], Any], str]]:
    """(name, a call over one field's limit, the start of its error)."""
    ok_reason = "r" * limits.MAX_REASON_LENGTH
    return [
        (
            "display_name",
            lambda: c.agent("a1", display_name="d" * (limits.MAX_DISPLAY_NAME_LENGTH + 1)),
            "display_name: must be at most 256 characters, got 257",
        ),
        (
            "display_name NUL",
            lambda: c.agent("a1", display_name="a\x00b"),
            "display_name: must not contain NUL",
        ),
        (
            "SetAgentState.reason",
            lambda: c.SetAgentState(
                pb.SetAgentStateRequest(
                    agent_id="a1", state=pb.AGENT_STATE_NOT_READY, reason=LONG_REASON
                )
            ),
            "reason: must be at most 256 characters",
        ),
        (
            "Reject.reason",
            lambda: c.Reject(pb.RejectRequest(interaction_id="i1", agent_id="a1", reason="\x00")),
            "reason: must not contain NUL",
        ),
        (
            "Cancel.reason",
            lambda: c.Cancel(pb.CancelRequest(interaction_id="i1", reason=LONG_REASON)),
            "reason: must be at most 256",
        ),
        (
            "Transfer.reason",
            lambda: c.Transfer(
                pb.TransferRequest(
                    interaction_id="i1", mode=WARM, agent_id="a2", reason=LONG_REASON
                )
            ),
            "reason: must be at most 256",
        ),
        (
            "Escalate.reason",
            lambda: c.Escalate(pb.EscalateRequest(interaction_id="i1", reason=LONG_REASON)),
            "reason: must be at most 256",
        ),
        (
            "CancelTransfer.reason",
            lambda: c.CancelTransfer(
                pb.CancelTransferRequest(interaction_id="i1", reason=LONG_REASON)
            ),
            "reason: must be at most 256",
        ),
        (
            "Complete.disposition",
            lambda: c.Complete(
                pb.CompleteRequest(
                    interaction_id="i1", disposition="d" * (limits.MAX_DISPOSITION_LENGTH + 1)
                )
            ),
            "disposition: must be at most 256",
        ),
        (
            "Complete.disposition at the limit, bad csat",
            lambda: c.Complete(
                pb.CompleteRequest(interaction_id="i1", disposition=ok_reason, csat=-1)
            ),
            "csat: must be 1..5, or 0 for none; got -1",
        ),
        (
            "customer_tier",
            lambda: c.enqueue("i9", customer_tier="t" * (limits.MAX_CUSTOMER_TIER_LENGTH + 1)),
            "customer_tier: must be at most 64 characters",
        ),
        (
            "remove_keys count",
            lambda: c.UpdateContext(
                pb.UpdateContextRequest(
                    interaction_id="i1",
                    remove_keys=[f"k{n}" for n in range(limits.MAX_REMOVE_KEYS + 1)],
                )
            ),
            "remove_keys: at most 64 keys, got 65",
        ),
        (
            "remove_keys long key",
            lambda: c.UpdateContext(
                pb.UpdateContextRequest(interaction_id="i1", remove_keys=["ok", "k" * 257])
            ),
            "remove_keys[1]: key 'kkk",
        ),
        (
            "remove_keys empty key",
            lambda: c.UpdateContext(pb.UpdateContextRequest(interaction_id="i1", remove_keys=[""])),
            "remove_keys[0]: keys must not be empty",
        ),
        (
            "capacity channel twice",
            lambda: c.UpsertAgent(
                pb.UpsertAgentRequest(
                    agent_id="a1",
                    capacity=[
                        pb.ChannelCount(channel=pb.CHANNEL_CHAT, count=2),
                        pb.ChannelCount(channel=pb.CHANNEL_VOICE, count=1),
                        pb.ChannelCount(channel=pb.CHANNEL_CHAT, count=4),
                    ],
                )
            ),
            "capacity[2].channel: CHAT is listed twice (first at [0])",
        ),
        (
            "capacity count 256",
            lambda: c.UpsertAgent(
                pb.UpsertAgentRequest(
                    agent_id="a1", capacity=[pb.ChannelCount(channel=pb.CHANNEL_SMS, count=256)]
                )
            ),
            "capacity[0].count: must be 0..255, got 256",
        ),
        (
            "capacity count -1",
            lambda: c.UpsertAgent(
                pb.UpsertAgentRequest(
                    agent_id="a1", capacity=[pb.ChannelCount(channel=pb.CHANNEL_SMS, count=-1)]
                )
            ),
            "capacity[0].count: must be 0..255, got -1",
        ),
    ]


def test_every_bounded_field_is_refused_over_its_limit(assigned: Client) -> None:
    client = assigned
    before = world(client, ("i1",))
    for name, call, message in bounded_cases(client):
        details = refused(call)
        assert details.startswith(message), (name, details)
    assert world(client, ("i1",)) == before


def test_free_text_at_its_limit_is_kept(assigned: Client) -> None:
    client = assigned
    name = "é" * limits.MAX_DISPLAY_NAME_LENGTH
    assert client.agent("a2", display_name=name).display_name == name
    reason = "r" * limits.MAX_REASON_LENGTH
    client.Escalate(pb.EscalateRequest(interaction_id="i1", reason=reason))
    assert client.get("i1").history[-1].reason == reason
    disposition = "d" * limits.MAX_DISPOSITION_LENGTH
    done = client.Complete(pb.CompleteRequest(interaction_id="i1", disposition=disposition))
    assert done.disposition == disposition


def test_a_context_update_records_its_keys_within_a_reason_s_length(client: Client) -> None:
    """remove_keys (and the updated keys) go into the history, not into the context: they
    must not be a way round the context's size limit."""
    client.enqueue("i1")
    keys = [f"{k:02}" + "k" * (limits.MAX_CONTEXT_KEY_LENGTH - 2) for k in range(64)]
    update = struct({key: 1 for key in keys[:8]})
    for _ in range(3):
        client.UpdateContext(
            pb.UpdateContextRequest(interaction_id="i1", context=update, remove_keys=keys[8:])
        )
    history = client.get("i1").history
    updates = [e for e in history if e.type == pb.EVENT_TYPE_CONTEXT_UPDATED]
    assert len(updates) == 3
    assert all(len(e.reason) <= limits.MAX_REASON_LENGTH for e in updates)
    assert updates[0].reason == keys[0][: limits.MAX_REASON_LENGTH - 3] + "..."
    short = client.UpdateContext(
        pb.UpdateContextRequest(interaction_id="i1", context=struct({"b": 1}), remove_keys=["a"])
    )
    assert dict(short.context) == {**dict(update), "b": 1}
    assert client.get("i1").history[-1].reason == "a,b"


def test_watch_assignments_bounds_its_agent_list(running: Running) -> None:
    client = running.client()
    too_many = [f"a{k}" for k in range(limits.MAX_WATCHED_AGENTS + 1)]
    details = refused(
        lambda: list(client.WatchAssignments(pb.WatchAssignmentsRequest(agent_ids=too_many)))
    )
    assert details == "agent_ids: at most 1000 entries, got 1001"
    details = refused(
        lambda: list(client.WatchAssignments(pb.WatchAssignmentsRequest(agent_ids=["a", "b\x00"])))
    )
    assert details.startswith("agent_ids[1]: ")
    # At the limit the stream opens (and ends at its deadline).
    stream = client.WatchAssignments(
        pb.WatchAssignmentsRequest(agent_ids=too_many[:-1]), timeout=0.5
    )
    with pytest.raises(grpc.RpcError) as err:
        list(stream)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


# --- the other fields ------------------------------------------------------------------------


def other_cases(c: Client) -> list[tuple[str, Callable[[], Any], str]]:
    return [
        (
            "sla_seconds above its bound",
            lambda: c.enqueue("i9", sla_seconds=limits.MAX_SLA_SECONDS + 1),
            "sla_seconds: must be a finite number 0..2592000",
        ),
        (
            "sla_seconds -Infinity",
            lambda: c.enqueue("i9", sla_seconds=float("-inf")),
            "sla_seconds: ",
        ),
        ("priority -1", lambda: c.enqueue("i9", priority=-1), "priority: must be 0..100, got -1"),
        (
            "tier -1",
            lambda: c.UpsertAgent(pb.UpsertAgentRequest(agent_id="a1", tier=-1)),
            "tier: must be 1..5 (0 means 1), got -1",
        ),
        (
            "customer_id unprintable",
            lambda: c.enqueue("i9", customer_id="c\n1"),
            "customer_id: must contain printable characters only",
        ),
        (
            "WRAP_UP for an unknown agent",
            lambda: c.SetAgentState(
                pb.SetAgentStateRequest(agent_id="ghost", state=pb.AGENT_STATE_WRAP_UP)
            ),
            "state: WRAP_UP is set by the router",
        ),
        (
            "ListAgents.state 9",
            lambda: c.ListAgents(pb.ListAgentsRequest(state=9)),  # type: ignore[arg-type]
            "state: unknown agent state 9",
        ),
        (
            "Transfer.mode 3",
            lambda: c.Transfer(
                pb.TransferRequest(interaction_id="i1", mode=3, agent_id="a2")  # type: ignore[arg-type]
            ),
            "mode: unknown transfer mode 3",
        ),
        (
            "Transfer.channel -1",
            lambda: c.Transfer(
                pb.TransferRequest(interaction_id="i1", mode=WARM, agent_id="a2", channel=-1)  # type: ignore[arg-type]
            ),
            "channel: unknown channel -1",
        ),
        (
            "ignore_skills without a named agent",
            lambda: c.Transfer(
                pb.TransferRequest(
                    interaction_id="i1", mode=WARM, queue=pb.QueueTarget(), ignore_skills=True
                )
            ),
            "ignore_skills: applies to a transfer to agent_id only",
        ),
        (
            "CancelTransfer.agent_id too long",
            lambda: c.CancelTransfer(
                pb.CancelTransferRequest(interaction_id="i1", agent_id="a" * 129)
            ),
            "agent_id: must be at most 128 characters",
        ),
        ("Assign without a target", lambda: c.Assign(pb.AssignRequest()), "target: "),
        (
            "Assign.agent_id empty",
            lambda: c.Assign(pb.AssignRequest(agent_id="")),
            "agent_id: must not be empty",
        ),
    ]


def test_every_other_rule_names_its_field(assigned: Client) -> None:
    client = assigned
    before = world(client, ("i1",))
    for name, call, message in other_cases(client):
        details = refused(call)
        assert details.startswith(message), (name, details)
    assert world(client, ("i1",)) == before


# --- the tenant header -----------------------------------------------------------------------


def test_a_tenant_header_given_twice_is_refused(running: Running) -> None:
    channel = grpc.insecure_channel(running.server.address)
    running.channels.append(channel)
    stub = router_pb2_grpc.RouterStub(channel)
    twice = (("x-cim-tenant", "acme"), ("x-cim-tenant", "other"))
    calls: list[tuple[Callable[..., Any], Message]] = [
        (stub.UpsertAgent, pb.UpsertAgentRequest(agent_id="a1")),
        (stub.GetStats, pb.GetStatsRequest()),
        (stub.ListAgents, pb.ListAgentsRequest()),
    ]
    for method, request in calls:

        def call(m: Callable[..., Any] = method, r: Message = request) -> Any:
            return m(r, metadata=twice, timeout=5)

        assert refused(call) == "x-cim-tenant: given more than once"
    details = refused(
        lambda: list(stub.WatchAssignments(pb.WatchAssignmentsRequest(), metadata=twice))
    )
    assert details == "x-cim-tenant: given more than once"
    for tenant in ("acme", "other"):
        assert running.client(tenant).ListAgents(pb.ListAgentsRequest()).agents == []
    one = stub.UpsertAgent(
        pb.UpsertAgentRequest(agent_id="a1"), metadata=(("x-cim-tenant", "acme"),), timeout=5
    )
    assert one.id == "a1"
    assert [a.id for a in running.client("acme").ListAgents(pb.ListAgentsRequest()).agents] == [
        "a1"
    ]
