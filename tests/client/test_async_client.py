"""AsyncRouterClient against a real server: every method, end to end."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from cim_router._pb import router_pb2 as pb
from cim_router.client import (
    AsyncRouterClient,
    FailedPrecondition,
    agent_state_name,
    assignment_event_name,
    channel_name,
    event_name,
    interaction_state_name,
)
from tests.client.conftest import run


def test_enqueue_offer_accept_complete_with_context_and_history(target: str) -> None:
    async def scenario() -> None:
        async with AsyncRouterClient(target) as router:
            ann = await router.upsert_agent(
                "ann", skills={"billing": 8}, tier=2, state="available", display_name="Ann"
            )
            assert (ann.id, ann.display_name, dict(ann.skills), ann.tier) == (
                "ann",
                "Ann",
                {"billing": 8},
                2,
            )
            assert agent_state_name(ann.state) == "available"
            r = await router.enqueue(
                "chat-1",
                channel="chat",
                required={"billing": 5},
                preferred=["spanish"],
                priority=50,
                customer_id="c1",
                customer_tier="gold",
                context={"order": "A-17", "amount": 12.5},
            )
            assert r.created
            i = r.interaction
            assert interaction_state_name(i.state) == "offered" and i.offer.agent_id == "ann"
            assert channel_name(i.channel) == "chat" and i.priority == 50
            assert [(s.skill, s.min_level) for s in i.required_skills] == [("billing", 5)]
            assert [s.skill for s in i.preferred_skills] == ["spanish"]
            assert dict(i.context) == {"order": "A-17", "amount": 12.5}
            again = await router.enqueue(
                "chat-1",
                channel="chat",
                required={"billing": 5},
                preferred=["spanish"],
                priority=50,
                customer_id="c1",
                customer_tier="gold",
                context={"order": "A-17", "amount": 12.5},
            )
            assert not again.created and again.interaction.id == "chat-1"

            accepted = await router.accept("chat-1", "ann")
            assert interaction_state_name(accepted.state) == "assigned"
            updated = await router.update_context("chat-1", {"note": "refund"}, remove=["amount"])
            assert dict(updated.context) == {"order": "A-17", "note": "refund"}
            done = await router.complete("chat-1", csat=5, disposition="resolved")
            assert (done.csat, done.disposition) == (5, "resolved")
            assert interaction_state_name(done.state) == "wrap_up"

            full = await router.get_interaction("chat-1")
            kinds = [event_name(e.type) for e in full.history]
            assert kinds[:3] == ["enqueued", "offered", "accepted"]
            assert "context_updated" in kinds and "wrap_up_started" in kinds

    run(scenario())


def test_agents_listed_by_state_changed_and_removed(target: str) -> None:
    async def scenario() -> None:
        async with AsyncRouterClient(target) as router:
            await router.upsert_agent("a1", state="available", capacity={"chat": 2})
            await router.upsert_agent("a2", state="offline")
            assert {a.id for a in await router.list_agents()} == {"a1", "a2"}
            assert [a.id for a in await router.list_agents(state="offline")] == ["a2"]
            a1 = await router.get_agent("a1")
            assert {(channel_name(c.channel), c.count) for c in a1.capacity} >= {("chat", 2)}
            paused = await router.set_agent_state("a1", "not-ready", reason="lunch")
            assert agent_state_name(paused.state) == "not_ready"
            assert paused.not_ready_reason == "lunch"
            await router.remove_agent("a2")
            assert [a.id for a in await router.list_agents()] == ["a1"]

    run(scenario())


def test_watch_sees_the_offer_and_a_warm_transfer(target: str) -> None:
    async def scenario() -> None:
        async with AsyncRouterClient(target) as router:
            await router.upsert_agent("a1", state="available")
            events: list[tuple[str, str]] = []
            offered = asyncio.Event()

            async def watch() -> None:
                async with contextlib.aclosing(router.watch(["a1", "a2"], timeout=5)) as stream:
                    async for e in stream:
                        events.append((assignment_event_name(e.type), e.agent_id))
                        if e.type == pb.ASSIGNMENT_EVENT_TYPE_OFFERED:
                            offered.set()
                        if len(events) == 5:
                            return

            watcher = asyncio.create_task(watch())
            await asyncio.sleep(0.2)  # the stream is open before anything happens
            await router.enqueue("call-1", channel="voice")
            await asyncio.wait_for(offered.wait(), 5)
            await router.accept("call-1", "a1")
            await router.upsert_agent("a2", state="available")
            moving = await router.transfer("call-1", agent_id="a2", mode="warm", reason="sales")
            assert moving.agent_id == "a1" and moving.offer.agent_id == "a2"
            await router.accept("call-1", "a2")
            await asyncio.wait_for(watcher, 5)
            assert events == [
                ("offered", "a1"),
                ("assigned", "a1"),
                ("offered", "a2"),
                ("released", "a1"),
                ("assigned", "a2"),
            ]

    run(scenario())


def test_assign_pulls_up_to_the_chat_capacity_then_waits_unmatched(target: str) -> None:
    async def scenario() -> None:
        async with AsyncRouterClient(target) as router:
            for k in range(4):
                await router.enqueue(f"c{k}", channel="chat")
            await router.upsert_agent("desk", state="available")
            pulled = [await router.assign(agent_id="desk", wait=1.0) for _ in range(3)]
            assert all(p.matched for p in pulled)
            assert sorted(p.interaction.id for p in pulled) == ["c0", "c1", "c2"]
            assert {interaction_state_name(p.interaction.state) for p in pulled} == {"assigned"}
            loop = asyncio.get_running_loop()
            start = loop.time()
            fourth = await router.assign(agent_id="desk", wait=0.4)
            assert not fourth.matched and loop.time() - start >= 0.3

            chosen = await router.assign(interaction_id="c3")
            assert not chosen.matched

    run(scenario())


def test_cancel_escalate_reject_explain_and_stats(target: str) -> None:
    async def scenario() -> None:
        async with AsyncRouterClient(target) as router:
            await router.upsert_agent("junior", skills={"billing": 5}, state="available")
            await router.enqueue("i1", channel="chat", required={"billing": 3})
            why = await router.explain("i1")
            assert why.chosen_agent_id == "junior" and why.winner.agent_id == "junior"
            assert "skill" in why.winner.terms
            back = await router.reject("i1", "junior", reason="busy")
            assert interaction_state_name(back.state) == "queued"
            assert list(back.excluded_agent_ids) == ["junior"]
            up = await router.escalate("i1", reason="angry")
            assert up.escalation_level == 1
            stats = await router.stats()
            assert stats.waiting == 1 and stats.offered == 1
            gone = await router.cancel("i1", reason="hung up")
            assert interaction_state_name(gone.state) == "cancelled"
            assert (await router.stats()).waiting == 0
            with pytest.raises(FailedPrecondition, match="'i1' is CANCELLED"):
                await router.accept("i1", "junior")

    run(scenario())


def test_transfer_to_skills_and_to_the_queue_change_channel(target: str) -> None:
    async def scenario() -> None:
        async with AsyncRouterClient(target) as router:
            await router.upsert_agent("a1", state="available")
            await router.enqueue("i1", channel="chat")
            await router.accept("i1", "a1")
            cold = await router.transfer("i1", required={"sales": 4}, mode="cold", channel="voice")
            assert interaction_state_name(cold.state) == "queued"
            assert channel_name(cold.channel) == "voice"
            assert [(r.skill, r.min_level) for r in cold.required_skills] == [("sales", 4)]
            await router.upsert_agent("s1", skills={"sales": 6}, state="available")
            assert (await router.get_interaction("i1")).offer.agent_id == "s1"
            await router.accept("i1", "s1")
            queued = await router.transfer("i1", queue=True, mode="cold")
            assert interaction_state_name(queued.state) == "queued"
            assert queued.agent_id == "" and "s1" in queued.excluded_agent_ids

    run(scenario())
