"""Queues on one tenant (in-memory store, manual clock): the registry, Enqueue into a queue,
routing profiles kept, transfer to a queue, ListInteractions, and a restart keeping it all."""

from __future__ import annotations

import datetime as dt

import pytest

from cim_router.domain.agent import Agent, AgentState
from cim_router.domain.channel import DEFAULT_CAPACITY, Channel
from cim_router.domain.errors import ValidationError
from cim_router.domain.hours import Hours, parse_intervals
from cim_router.domain.interaction import Interaction, InteractionState, SkillRequirement
from cim_router.domain.policy import policy_from_mapping
from cim_router.domain.queues import (
    DEFAULT_QUEUE,
    Membership,
    OverflowRule,
    Queue,
    Then,
    When,
)
from cim_router.tenant import agents, interactions, listing, queue_admin, queues, reports, transfers
from cim_router.tenant.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)
from cim_router.tenant.records import EventType, TransferMode
from tests.tenant.harness import Harness, run

BILLING = Queue(
    "billing",
    channels=frozenset({Channel.VOICE, Channel.EMAIL}),
    required=(SkillRequirement("billing", 3),),
    preferred=(SkillRequirement("french", 1),),
    priority=20,
)


async def _queue(h: Harness, queue: Queue) -> queues.QueueStatus:
    async with h.tenants.use("t") as r:
        return await queue_admin.upsert_queue(r, queue)


async def _enqueue(
    h: Harness, iid: str, channel: Channel, queue_id: str, **kw: object
) -> interactions.Enqueued:
    i = Interaction(iid, channel, queue_id=queue_id, **kw)  # type: ignore[arg-type]
    async with h.tenants.use("t") as r:
        return await interactions.enqueue(r, i, iid.encode())


async def _profiled(
    h: Harness, agent_id: str, profile: dict[str, Membership], skills: dict[str, int]
) -> None:
    a = Agent(agent_id, skills=skills, capacity=dict(DEFAULT_CAPACITY), routing_profile=profile)
    async with h.tenants.use("t") as r:
        await agents.upsert_agent(r, a, AgentState.NOT_READY)


def test_default_queue_is_always_there_and_cannot_be_removed() -> None:
    async def body() -> None:
        h = await Harness().start()
        await h.enqueue("i1", Channel.CHAT)
        r = h.router()
        assert r.open["i1"].interaction.queue_id == DEFAULT_QUEUE
        with pytest.raises(FailedPrecondition, match="cannot be removed"):
            await queue_admin.remove_queue(r, DEFAULT_QUEUE)
        with pytest.raises(NotFound):
            await queue_admin.remove_queue(r, "nope")
        status = await queues.get_queue(r, DEFAULT_QUEUE)
        assert status.waiting == 1 and status.open and status.next_change is None

    run(body)


def test_enqueue_takes_the_queues_skills_and_priority_and_position_is_per_queue() -> None:
    async def body() -> None:
        h = await Harness().start()
        await h.enqueue("d1", Channel.VOICE)
        await h.enqueue("d2", Channel.VOICE)
        await _queue(h, BILLING)
        rec, created, position, _ = await _enqueue(
            h, "b1", Channel.VOICE, "billing", required=(SkillRequirement("billing", 5),)
        )
        assert created and rec.interaction.queue_id == "billing"
        # the request's level wins for a skill in both; the queue's preferred skill is added
        assert rec.interaction.required == (SkillRequirement("billing", 5),)
        assert rec.interaction.preferred == (SkillRequirement("french", 1),)
        assert rec.interaction.priority == 20
        assert position == 1  # first in its queue, though two wait in "default"
        _, _, position, _ = await _enqueue(h, "b2", Channel.EMAIL, "billing", priority=90)
        assert h.get("b2").interaction.priority == 100  # capped

    run(body)


def test_enqueue_refuses_an_unknown_queue_a_channel_it_does_not_take_and_a_full_queue() -> None:
    async def body() -> None:
        h = await Harness().start()
        await _queue(h, BILLING)
        with pytest.raises(NotFound, match="'nope'"):
            await _enqueue(h, "x1", Channel.VOICE, "nope")
        with pytest.raises(InvalidArgument, match="channel: queue 'billing' does not take CHAT"):
            await _enqueue(h, "x2", Channel.CHAT, "billing")
        await _queue(h, Queue("small", max_size=1))
        await _enqueue(h, "s1", Channel.CHAT, "small")
        with pytest.raises(ResourceExhausted, match="'small'"):
            await _enqueue(h, "s2", Channel.CHAT, "small")
        assert "x1" not in h.router().open and "s2" not in h.router().open

    run(body)


def test_upsert_refuses_a_rule_to_a_missing_queue_and_a_cycle_changing_nothing() -> None:
    async def body() -> None:
        h = await Harness().start()
        await _queue(h, Queue("a"))
        spill = OverflowRule("spill", When.WAITED, Then.MOVE, 30.0, queue="b")
        with pytest.raises(ValidationError) as missing:
            await _queue(h, Queue("a", overflow=(spill,)))
        assert missing.value.field == "queue.overflow[0].queue"
        await _queue(
            h, Queue("b", overflow=(OverflowRule("back", When.WAITED, Then.MOVE, 9.0, "a"),))
        )
        with pytest.raises(ValidationError) as cycle:
            await _queue(h, Queue("a", overflow=(spill,)))
        assert "moves go round" in cycle.value.reason
        assert h.router().queues["a"].overflow == ()
        assert h.store.data("t").queues["a"].overflow == ()

    run(body)


def test_remove_queue_refused_while_work_waits_or_a_rule_moves_to_it() -> None:
    async def body() -> None:
        h = await Harness().start()
        await _queue(h, Queue("q1"))
        await _enqueue(h, "i1", Channel.CHAT, "q1")
        r = h.router()
        with pytest.raises(FailedPrecondition, match="holds open interactions"):
            await queue_admin.remove_queue(r, "q1")
        await h.cancel("i1")
        await _queue(h, Queue("q2", overflow=(OverflowRule("m", When.CLOSED, Then.MOVE, 0, "q1"),)))
        with pytest.raises(FailedPrecondition, match="rule of queue 'q2'"):
            await queue_admin.remove_queue(r, "q1")
        await queue_admin.remove_queue(r, "q2")
        await queue_admin.remove_queue(r, "q1")
        assert set(r.queues) == {DEFAULT_QUEUE}
        assert set(h.store.data("t").queues) == set()

    run(body)


def test_profile_naming_a_missing_queue_is_refused_and_a_profile_is_kept() -> None:
    async def body() -> None:
        h = await Harness().start()
        with pytest.raises(InvalidArgument, match=r"routing_profile\[0\].queue_id: no queue 'x'"):
            await _profiled(h, "ann", {"x": Membership()}, {})
        await _queue(h, BILLING)
        await _profiled(h, "ann", {"billing": Membership(7, 30.0)}, {"billing": 5})
        assert h.agent_record("ann").agent.routing_profile == {"billing": Membership(7, 30.0)}
        status = await queues.get_queue(h.router(), "billing")
        assert status.agents_staffed == 1 and status.agents_available == 0
        other = await queues.get_queue(h.router(), DEFAULT_QUEUE)
        assert other.agents_staffed == 0  # ann serves billing only

    run(body)


def test_transfer_to_a_queue_keeps_its_place_or_goes_to_the_back() -> None:
    async def body() -> None:
        h = await Harness().start()
        await _queue(h, Queue("sales", required=(SkillRequirement("sales", 1),)))
        await h.agent("ann", {"billing": 5})
        await h.enqueue("i1", Channel.CHAT)
        await h.accept("i1", "ann")
        enqueued = h.get("i1").interaction.enqueued_at
        h.clock.set(h.clock() + 50)
        async with h.tenants.use("t") as r:
            await transfers.transfer(
                r, "i1", TransferMode.COLD, "", None, None, "", move=queues.Move("sales")
            )
        rec = h.get("i1")
        assert rec.interaction.queue_id == "sales"
        assert rec.interaction.enqueued_at == enqueued  # kept its place
        assert rec.interaction.required == (SkillRequirement("sales", 1),)
        assert rec.interaction.state == InteractionState.QUEUED
        history = h.store.data("t").history["i1"]
        changed = [e for e in history if e.type == EventType.QUEUE_CHANGED]
        assert [e.queue_id for e in changed] == ["sales"]
        await h.agent("bob", {"sales": 2})
        await h.accept("i1", "bob")
        h.clock.set(h.clock() + 10)
        async with h.tenants.use("t") as r:
            await transfers.transfer(
                r, "i1", TransferMode.COLD, "", None, None, "", move=queues.Move("", True)
            )
        assert h.get("i1").interaction.enqueued_at == h.clock()  # to the back of its own

    run(body)


def test_transfer_to_a_queue_that_does_not_take_the_channel_changes_nothing() -> None:
    async def body() -> None:
        h = await Harness().start()
        await _queue(h, Queue("mail", channels=frozenset({Channel.EMAIL})))
        await h.agent("ann")
        await h.enqueue("i1", Channel.CHAT)
        await h.accept("i1", "ann")
        async with h.tenants.use("t") as r:
            with pytest.raises(InvalidArgument, match="does not take CHAT"):
                await transfers.transfer(
                    r, "i1", TransferMode.COLD, "", None, None, "", move=queues.Move("mail")
                )
        rec = h.get("i1")
        assert rec.interaction.state == InteractionState.ASSIGNED
        assert rec.interaction.queue_id == DEFAULT_QUEUE

    run(body)


def test_list_interactions_filters_and_pages_in_service_order() -> None:
    async def body() -> None:
        h = await Harness().start()
        await _queue(h, Queue("q1"))
        for k in range(5):
            await _enqueue(h, f"a{k}", Channel.CHAT, "q1", priority=k * 10)
            h.clock.set(h.clock() + 1)
        await h.enqueue("d1", Channel.EMAIL, customer_id="c9")
        r = h.router()
        page, more = await listing.list_interactions(r, listing.Filter("q1"), 0, 2)
        assert [x.id for x in page] == ["a4", "a3"] and more  # the most urgent first
        page, more = await listing.list_interactions(r, listing.Filter("q1"), 4, 2)
        assert [x.id for x in page] == ["a0"] and not more
        page, _ = await listing.list_interactions(r, listing.Filter(channel=Channel.EMAIL), 0, 9)
        assert [x.id for x in page] == ["d1"]
        page, _ = await listing.list_interactions(r, listing.Filter(customer_id="c9"), 0, 9)
        assert [x.id for x in page] == ["d1"]
        state = listing.Filter(state=InteractionState.ASSIGNED)
        assert (await listing.list_interactions(r, state, 0, 9))[0] == []
        with pytest.raises(NotFound):
            await listing.list_interactions(r, listing.Filter("nope"), 0, 9)

    run(body)


def test_queue_status_shows_hours_open_and_the_next_change() -> None:
    async def body() -> None:
        h = await Harness().start()
        monday = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.timezone.utc).timestamp()  # a Monday
        h.clock.set(monday)
        hours = Hours("UTC", {"mon": parse_intervals(["09:00-17:00"], "mon")})
        status = await _queue(h, Queue("office", hours=hours))
        assert not status.open and status.next_change == monday + 3600
        h.clock.set(monday + 3600)
        assert (await queues.get_queue(h.router(), "office")).open

    run(body)


def test_restart_keeps_queues_profiles_and_each_interactions_queue() -> None:
    async def body() -> None:
        h = await Harness().start()
        hours = Hours("Europe/Paris", {"tue": parse_intervals(["08:00-12:00"], "tue")})
        await _queue(h, Queue("billing", priority=5, hours=hours))
        await _profiled(h, "ann", {"billing": Membership(3, 12.5)}, {"billing": 5})
        await _enqueue(h, "b1", Channel.CHAT, "billing")
        again = await h.restart()
        r = again.router()
        assert r.queues["billing"] == Queue("billing", priority=5, hours=hours)
        assert r.agents["ann"].agent.routing_profile == {"billing": Membership(3, 12.5)}
        assert r.open["b1"].interaction.queue_id == "billing"
        assert r.in_queue["billing"] == {"b1"}

    run(body)


def test_policy_queues_are_there_at_start_and_a_stored_one_wins() -> None:
    async def body() -> None:
        policy = policy_from_mapping(
            {"queues": {"sales": {"priority": 7, "channels": ["voice"]}}}, "test"
        )
        h = await Harness(policy).start()
        await h.enqueue("i0", Channel.CHAT)  # the tenant exists
        r = h.router()
        assert r.queues["sales"].priority == 7
        await _queue(h, Queue("sales", priority=9))
        again = await h.restart()
        assert again.router().queues["sales"].priority == 9

    run(body)


def test_routing_by_profile_and_skills_together() -> None:
    async def body() -> None:
        h = await Harness().start()
        await _queue(h, Queue("billing"))
        await _profiled(h, "bill", {"billing": Membership()}, {"billing": 9})
        await h.set_state("bill", AgentState.AVAILABLE)
        await h.enqueue("d1", Channel.CHAT, required={"billing": 1})  # default queue
        assert h.get("d1").offer is None  # bill serves billing only, though skilled
        await _enqueue(h, "b1", Channel.CHAT, "billing", required=(SkillRequirement("tech", 5),))
        assert h.get("b1").offer is None  # in bill's queue, but bill lacks the skill
        await _enqueue(h, "b2", Channel.CHAT, "billing", required=(SkillRequirement("billing", 5),))
        offered = h.get("b2").offer
        assert offered is not None and offered.agent_id == "bill"
        await h.agent("any", {"billing": 1})  # no profile: every queue
        d1 = h.get("d1").offer
        assert d1 is not None and d1.agent_id == "any"

    run(body)


def test_a_widened_profile_lets_the_agent_take_work_already_waiting() -> None:
    async def body() -> None:
        h = await Harness().start()
        await _queue(h, Queue("sales"))
        await _profiled(h, "ann", {"sales": Membership()}, {})
        await h.set_state("ann", AgentState.AVAILABLE)
        await h.enqueue("d1", Channel.CHAT)
        assert h.get("d1").offer is None
        a = Agent(
            "ann",
            capacity=dict(DEFAULT_CAPACITY),
            routing_profile={"sales": Membership(), DEFAULT_QUEUE: Membership(5)},
        )
        async with h.tenants.use("t") as r:
            await agents.upsert_agent(r, a, None)
        await h.settle()
        offered = h.get("d1").offer
        assert offered is not None and offered.agent_id == "ann"

    run(body)


def test_profiles_keep_routing_apart_after_a_restart() -> None:
    async def body() -> None:
        h = await Harness().start()
        await _queue(h, Queue("billing"))
        await _profiled(h, "bill", {"billing": Membership()}, {})
        await h.enqueue("d1", Channel.CHAT)
        again = await h.restart()
        await again.set_state("bill", AgentState.AVAILABLE)
        assert again.get("d1").offer is None

    run(body)


def test_a_profiles_delay_holds_the_agent_back_until_the_work_has_waited_that_long() -> None:
    async def body() -> None:
        h = await Harness().start()
        await _profiled(h, "late", {DEFAULT_QUEUE: Membership(5, 30.0)}, {})
        await h.set_state("late", AgentState.AVAILABLE)
        await h.enqueue("d1", Channel.CHAT)
        assert h.get("d1").offer is None
        await h.advance(29.0)
        assert h.get("d1").offer is None
        await h.advance(2.0)
        offered = h.get("d1").offer
        assert offered is not None and offered.agent_id == "late"
        await h.agent("now")  # no delay for an agent without a profile
        await h.enqueue("d2", Channel.CHAT)
        d2 = h.get("d2").offer
        assert d2 is not None and d2.agent_id == "now"

    run(body)


def test_a_delay_counts_from_the_enqueue_time_across_a_restart() -> None:
    async def body() -> None:
        h = await Harness().start()
        await _profiled(h, "late", {DEFAULT_QUEUE: Membership(5, 30.0)}, {})
        await h.set_state("late", AgentState.AVAILABLE)
        await h.enqueue("d1", Channel.CHAT)
        await h.advance(10.0)
        again = await h.restart()  # a second later
        await again.advance(18.0)
        assert again.get("d1").offer is None
        await again.advance(2.0)
        offered = again.get("d1").offer
        assert offered is not None and offered.agent_id == "late"

    run(body)


def test_a_tenant_holds_at_most_64_queues() -> None:
    async def body() -> None:
        h = await Harness().start()
        for k in range(63):
            await _queue(h, Queue(f"q{k}"))
        with pytest.raises(ResourceExhausted, match="at most 64"):
            await _queue(h, Queue("one-too-many"))
        await _queue(h, Queue("q0", priority=4))  # changing one is fine
        assert len(h.router().queues) == 64 and "one-too-many" not in h.router().queues

    run(body)


def test_a_freed_agent_takes_its_highest_priority_queues_work_first() -> None:
    async def body() -> None:
        h = await Harness().start()
        await _queue(h, Queue("low"))
        await _queue(h, Queue("high"))
        await _profiled(h, "ann", {"low": Membership(1), "high": Membership(10)}, {})
        await _enqueue(h, "l1", Channel.VOICE, "low", priority=90)  # more urgent, earlier
        h.clock.set(h.clock() + 5)
        await _enqueue(h, "h1", Channel.VOICE, "high")
        await h.set_state("ann", AgentState.AVAILABLE)
        offered = h.get("h1").offer
        assert offered is not None and offered.agent_id == "ann"
        assert h.get("l1").offer is None

    run(body)


def test_explain_names_the_queue_gate_that_keeps_an_agent_out() -> None:
    async def body() -> None:
        h = await Harness().start()
        await _queue(h, Queue("billing"))
        await _profiled(h, "bill", {"billing": Membership()}, {})
        await h.set_state("bill", AgentState.AVAILABLE)
        await h.enqueue("d1", Channel.CHAT)
        explanation, live, _ = await reports.explain(h.router(), "d1")
        assert live and explanation.exclusions == {"not_in_queue": 1}

    run(body)
