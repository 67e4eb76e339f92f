"""Multitasking, many concurrent clients, tenants, stats and explanations."""

from __future__ import annotations

import random
import uuid
from concurrent.futures import ThreadPoolExecutor

import grpc

from cim_router._pb import router_pb2 as pb
from cim_router.domain.channel import Channel
from tests.service.conftest import Client, Running, fast_policy, start_server, wait_for

CHAT = pb.CHANNEL_CHAT


def test_chat_agent_holds_three_chats_never_four(client: Client) -> None:
    client.agent("a1")
    for k in range(5):
        client.enqueue(f"c{k}")
    offered = [k for k in range(5) if client.get(f"c{k}").offer.agent_id == "a1"]
    assert offered == [0, 1, 2]
    for k in offered:
        client.Accept(pb.AcceptRequest(interaction_id=f"c{k}", agent_id="a1"))
    assert client.get_agent("a1").load[0].count == 3
    assert not client.Assign(pb.AssignRequest(agent_id="a1")).matched
    assert client.get("c3").state == pb.INTERACTION_STATE_QUEUED
    client.Complete(pb.CompleteRequest(interaction_id="c0"))
    wait_for(lambda: client.get("c3").offer.agent_id == "a1", what="fourth chat after one ends")
    assert client.get_agent("a1").load[0].count == 3


def test_many_clients_enqueue_and_complete_at_once() -> None:
    policy = fast_policy(offer_timeout_seconds=30.0, wrap_up_seconds=dict.fromkeys(Channel, 0.0))
    running = start_server(policy)
    try:
        admin = running.client()
        agents = [f"a{k}" for k in range(8)]
        for agent_id in agents:
            admin.agent(agent_id, capacity=[pb.ChannelCount(channel=CHAT, count=2)])
        n = 120

        def customer(k: int) -> None:
            running.client().enqueue(f"i{k}", priority=random.randint(0, 100))

        def assign(me: Client, agent_id: str) -> pb.AssignResponse:
            """A waiting Assign as a desktop makes it: one request id for the logical call,
            sent again after a deadline the server may have answered within (a loaded
            machine), so an interaction it took is never lost."""
            request = pb.AssignRequest(agent_id=agent_id, wait=True)
            metadata = (("x-cim-tenant", me.tenant), ("x-cim-request-id", uuid.uuid4().hex))
            while True:
                try:
                    answer: pb.AssignResponse = me.stub.Assign(
                        request, timeout=0.5, metadata=metadata
                    )
                    return answer
                except grpc.RpcError as exc:
                    if exc.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                        raise

        def agent_loop(agent_id: str) -> int:
            me = running.client()
            served = 0
            while served < n:
                r = assign(me, agent_id)
                if not r.matched:
                    if admin.GetStats(pb.GetStatsRequest()).completed >= n:
                        return served
                    continue
                a = me.get_agent(agent_id)
                assert sum(c.count for c in a.load) <= 2
                me.Complete(pb.CompleteRequest(interaction_id=r.interaction.id, agent_id=agent_id))
                served += 1
            return served

        with ThreadPoolExecutor(24) as pool:
            workers = [pool.submit(agent_loop, a) for a in agents]
            list(pool.map(customer, range(n)))
            served = [w.result(60) for w in workers]
        assert sum(served) == n
        stats = admin.GetStats(pb.GetStatsRequest())
        assert (stats.waiting, stats.answered, stats.completed, stats.abandoned) == (0, n, n, 0)
        assert stats.offered == n  # nothing was offered twice
        for agent_id in agents:
            assert admin.get_agent(agent_id).load == []
        for k in range(n):
            i = admin.get(f"i{k}")
            assert i.state == pb.INTERACTION_STATE_COMPLETED
            offers = [e for e in i.history if e.type == pb.EVENT_TYPE_OFFERED]
            assert len(offers) == 1 and offers[0].agent_id == i.agent_id
    finally:
        running.stop()


def test_tenants_are_isolated(running: Running) -> None:
    t1, t2 = running.client("t1"), running.client("t2")
    t1.agent("a1")
    t1.enqueue("same-id", customer_id="c")
    t2.enqueue("same-id", customer_id="other")  # its own id space: no ALREADY_EXISTS
    assert t2.get("same-id").state == pb.INTERACTION_STATE_QUEUED  # t1's agent is not t2's
    assert t1.get("same-id").offer.agent_id == "a1"
    assert t2.ListAgents(pb.ListAgentsRequest()).agents == []
    try:
        t2.get_agent("a1")
        raise AssertionError("agent visible across tenants")
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.NOT_FOUND
    assert t2.GetStats(pb.GetStatsRequest()).offered == 0
    bad = running.client("x" * 200)
    try:
        bad.GetStats(pb.GetStatsRequest())
        raise AssertionError("bad tenant accepted")
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (err.details() or "").startswith("x-cim-tenant")


def test_stats_count_waiting_by_channel_and_skill_and_service_level(client: Client) -> None:
    billing = [pb.SkillRequirement(skill="billing")]
    client.enqueue("v1", channel=pb.CHANNEL_VOICE, required_skills=billing)
    client.enqueue("c1", channel=CHAT, required_skills=billing)
    client.enqueue("c2", channel=CHAT)
    client.UpsertAgent(pb.UpsertAgentRequest(agent_id="off"))
    client.agent("a1", skills={"billing": 5}, capacity=[pb.ChannelCount(channel=CHAT, count=0)])
    client.Accept(pb.AcceptRequest(interaction_id="v1", agent_id="a1"))
    client.Cancel(pb.CancelRequest(interaction_id="c2"))
    s = client.GetStats(pb.GetStatsRequest())
    assert s.waiting == 1
    assert {c.channel: c.count for c in s.waiting_by_channel} == {CHAT: 1}
    assert {c.skill: c.count for c in s.waiting_by_skill} == {"billing": 1}
    assert s.longest_wait_seconds > 0
    assert {c.state: c.count for c in s.agents_by_state} == {
        pb.AGENT_STATE_OFFLINE: 1,
        pb.AGENT_STATE_AVAILABLE: 1,
    }
    assert (s.offered, s.answered, s.abandoned) == (1, 1, 1)
    # c2 hung up within seconds: a short abandon, counted neither way (docs/measures.md).
    assert s.service_level == 1.0


def test_explain_live_for_waiting_and_recorded_after_the_decision(client: Client) -> None:
    client.agent("a1", skills={"billing": 9})
    client.agent("a2", skills={"billing": 4}, state=pb.AGENT_STATE_NOT_READY)
    client.agent("a3", skills={"sales": 9})
    client.enqueue("i1", required_skills=[pb.SkillRequirement(skill="billing", min_level=5)])
    e = client.Explain(pb.ExplainRequest(interaction_id="i1"))
    assert not e.live and e.chosen_agent_id == "a1" and e.winner.agent_id == "a1"
    assert e.agents_considered == 3 and e.eligible == 1
    assert dict(e.exclusions) == {"not_available": 1, "skill_missing": 1}
    assert set(e.winner.terms) >= {"skill", "idle", "sticky", "scarcity"}
    assert e.winner.terms["scarcity"] == 1.0  # a1's only skill is the one i1 needs
    assert e.urgency == e.urgency_base + e.aging + e.service_level_boost
    assert not e.wait_bound_reached
    client.Reject(pb.RejectRequest(interaction_id="i1", agent_id="a1"))
    live = client.Explain(pb.ExplainRequest(interaction_id="i1"))
    assert live.live and live.chosen_agent_id == "" and live.exclusions["excluded"] == 1
    assert live.aging > 0.0 and live.urgency >= live.aging
