"""Overflow rules and queue limits on one tenant (in-memory store, manual clock): each
condition and each action, a chain of moves, rules firing once, the maximum wait and size,
hours that close a queue (at its hour and on a holiday), and a restart keeping it all."""

from __future__ import annotations

import datetime as dt

import pytest

from cim_router.domain.agent import Agent, AgentState
from cim_router.domain.channel import DEFAULT_CAPACITY, Channel
from cim_router.domain.hours import Hours, parse_intervals
from cim_router.domain.interaction import Interaction, InteractionState, SkillRequirement
from cim_router.domain.policy import Policy
from cim_router.domain.queues import Membership, OverflowRule, Queue, Then, When
from cim_router.tenant import agents, interactions, queue_admin, reports
from cim_router.tenant.errors import ResourceExhausted
from cim_router.tenant.measures import Tally, abandonment_rate
from cim_router.tenant.records import EventType, InteractionRecord
from cim_router.tenant.tallies import bucket_of
from tests.tenant.harness import Harness, run

MONDAY_8 = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.timezone.utc).timestamp()  # a Monday
ALL_SKILLS = {"billing": 5, "spanish": 5, "vip": 5}


def rule(name: str, when: When, then: Then, threshold: float = 0.0, **kw: object) -> OverflowRule:
    return OverflowRule(name, when, then, threshold, **kw)  # type: ignore[arg-type]


async def put_queue(h: Harness, queue: Queue) -> None:
    async with h.tenants.use("t") as r:
        await queue_admin.upsert_queue(r, queue)
    await h.settle()


async def enqueue(h: Harness, iid: str, queue_id: str, **kw: object) -> InteractionRecord:
    i = Interaction(iid, kw.pop("channel", Channel.CHAT), queue_id=queue_id, **kw)  # type: ignore[arg-type]
    async with h.tenants.use("t") as r:
        rec, _, _, _ = await interactions.enqueue(r, i, iid.encode())
    await h.settle()
    return rec


async def agent_for(h: Harness, agent_id: str, queues: list[str], state: AgentState) -> None:
    profile = {q: Membership() for q in queues}
    a = Agent(agent_id, skills=dict(ALL_SKILLS), capacity=dict(DEFAULT_CAPACITY))
    a.routing_profile = profile
    async with h.tenants.use("t") as r:
        await agents.upsert_agent(r, a, state)
    await h.settle()


async def started(*queues: Queue) -> Harness:
    h = await Harness().start()
    h.clock.set(MONDAY_8)
    for queue in queues:
        await put_queue(h, queue)
    return h


def fired(h: Harness, iid: str) -> tuple[str, ...]:
    return h.get(iid).rules_fired


async def history(h: Harness, iid: str) -> list[tuple[EventType, str, str]]:
    _, events = await reports.get_interaction(h.router(), iid)
    return [(e.type, e.queue_id, e.rule) for e in events]


# --- conditions --------------------------------------------------------------------------------


def test_waited_moves_at_its_threshold_keeping_the_place() -> None:
    async def body() -> None:
        spill = Queue("spill")
        main = Queue("main", overflow=(rule("slow", When.WAITED, Then.MOVE, 30, queue="spill"),))
        h = await started(spill, main)
        rec = await enqueue(h, "i1", "main")
        start = rec.interaction.enqueued_at
        await h.advance(29.9)
        assert h.get("i1").interaction.queue_id == "main"
        await h.advance(0.2)
        moved = h.get("i1")
        assert moved.interaction.queue_id == "spill"
        assert moved.interaction.enqueued_at == start  # kept its place
        assert moved.rules_fired == ("main/slow",)
        assert (EventType.RULE_FIRED, "main", "slow") in await history(h, "i1")
        assert (EventType.QUEUE_CHANGED, "spill", "") in await history(h, "i1")

    run(body)


def test_a_move_to_the_back_starts_the_wait_again() -> None:
    async def body() -> None:
        spill = Queue("spill")
        main = Queue(
            "main",
            overflow=(rule("slow", When.WAITED, Then.MOVE, 10, queue="spill", keep_place=False),),
        )
        h = await started(spill, main)
        await enqueue(h, "i1", "main")
        await h.advance(10)
        assert h.get("i1").interaction.enqueued_at == pytest.approx(MONDAY_8 + 10)

    run(body)


def test_closed_moves_new_work_and_the_work_waiting_when_it_closes() -> None:
    async def body() -> None:
        hours = Hours("UTC", {"mon": parse_intervals(["08:00-09:00"], "mon")})
        night = Queue("night")
        office = Queue(
            "office",
            hours=hours,
            overflow=(rule("after-hours", When.CLOSED, Then.MOVE, queue="night"),),
        )
        h = await started(night, office)
        await enqueue(h, "open-time", "office")
        assert h.get("open-time").interaction.queue_id == "office"  # open: it stays
        await h.advance(3600)  # 09:00: the queue closes
        assert h.get("open-time").interaction.queue_id == "night"
        late = await enqueue(h, "late", "office")
        assert late.interaction.queue_id == "night"

    run(body)


def test_a_holiday_closes_the_queue_all_day() -> None:
    async def body() -> None:
        hours = Hours(
            "UTC",
            {"mon": parse_intervals(["00:00-24:00"], "mon")},
            {dt.date(2026, 11, 30): ()},
        )
        office = Queue(
            "office",
            hours=hours,
            overflow=(rule("holiday", When.CLOSED, Then.END, disposition="closed"),),
        )
        h = await started(office)
        rec = await enqueue(h, "i1", "office")
        assert rec.interaction.state == InteractionState.CANCELLED
        assert rec.disposition == "closed"
        again = await reports.explain(h.router(), "i1")
        assert again[1] is False  # recorded, not live
        assert h.get("i1").rules_fired == ("office/holiday",)

    run(body)


def test_size_above_k_sends_newcomers_on_and_a_full_queue_still_takes_them() -> None:
    async def body() -> None:
        spill = Queue("spill")
        main = Queue(
            "main",
            max_size=2,
            overflow=(rule("busy", When.SIZE, Then.MOVE, 2, queue="spill"),),
        )
        h = await started(spill, main)
        for n in range(2):
            await enqueue(h, f"i{n}", "main")
        third = await enqueue(h, "i2", "main")
        assert third.interaction.queue_id == "spill"
        assert [h.get(f"i{n}").interaction.queue_id for n in range(2)] == ["main", "main"]

    run(body)


def test_max_size_refuses_without_a_rule_that_sheds() -> None:
    async def body() -> None:
        main = Queue(
            "main",
            max_size=1,
            overflow=(rule("up", When.SIZE, Then.RAISE_PRIORITY, 0, priority=5),),
        )
        h = await started(main)
        await enqueue(h, "i0", "main")
        with pytest.raises(ResourceExhausted, match="full"):
            await enqueue(h, "i1", "main")
        assert "i1" not in h.router().open

    run(body)


def test_no_agents_fires_at_enqueue_and_when_the_last_agent_logs_out() -> None:
    async def body() -> None:
        backup = Queue("backup")
        main = Queue(
            "main",
            required=(SkillRequirement("billing", 9),),
            overflow=(rule("nobody", When.NO_AGENTS, Then.MOVE, queue="backup"),),
        )
        h = await started(backup, main)
        # An agent who could never serve it (billing 5 < 9 even after relaxation: 9-3=6).
        await agent_for(h, "weak", ["main"], AgentState.NOT_READY)
        rec = await enqueue(h, "i1", "main")
        assert rec.interaction.queue_id == "backup"
        # Now one who could: it is logged in (NOT_READY), so new work stays...
        strong = Agent("strong", skills={"billing": 9}, capacity=dict(DEFAULT_CAPACITY))
        strong.routing_profile = {"main": Membership()}
        async with h.tenants.use("t") as r:
            await agents.upsert_agent(r, strong, AgentState.NOT_READY)
        await h.settle()
        await enqueue(h, "i2", "main")
        assert h.get("i2").interaction.queue_id == "main"
        # ...until that agent logs out.
        await h.set_state("strong", AgentState.OFFLINE)
        assert h.get("i2").interaction.queue_id == "backup"

    run(body)


def test_expected_wait_above_n_seconds() -> None:
    async def body() -> None:
        h = await Harness(Policy(handle_time_seconds={c: 100.0 for c in Channel})).start()
        h.clock.set(MONDAY_8)
        await put_queue(h, Queue("spill"))
        main = Queue(
            "main", overflow=(rule("long", When.EXPECTED_WAIT, Then.MOVE, 250, queue="spill"),)
        )
        await put_queue(h, main)
        await agent_for(h, "a", ["main"], AgentState.NOT_READY)  # one chat seat... of 2
        # chat capacity 2 by default: place n waits n * 100 / 2 seconds.
        seats = DEFAULT_CAPACITY[Channel.CHAT]
        stay = int(250 * seats / 100)
        for n in range(stay):
            await enqueue(h, f"i{n}", "main")
        assert all(h.get(f"i{n}").interaction.queue_id == "main" for n in range(stay))
        over = await enqueue(h, "over", "main")
        assert over.interaction.queue_id == "spill"

    run(body)


# --- actions -----------------------------------------------------------------------------------


def test_add_and_drop_skills_and_raise_priority() -> None:
    async def body() -> None:
        main = Queue(
            "main",
            required=(SkillRequirement("vip", 2),),
            overflow=(
                rule("widen", When.WAITED, Then.DROP_SKILLS, 10, skills=(SkillRequirement("vip"),)),
                rule(
                    "spanish",
                    When.WAITED,
                    Then.ADD_SKILLS,
                    20,
                    skills=(SkillRequirement("spanish", 4),),
                ),
                rule("hurry", When.WAITED, Then.RAISE_PRIORITY, 30, priority=15),
            ),
        )
        h = await started(main)
        await enqueue(h, "i1", "main", priority=90)
        await h.advance(10)
        assert h.get("i1").interaction.required == ()
        await h.advance(10)
        assert h.get("i1").interaction.required == (SkillRequirement("spanish", 4),)
        await h.advance(10)
        assert h.get("i1").interaction.priority == 100  # at most 100
        assert fired(h, "i1") == ("main/widen", "main/spanish", "main/hurry")

    run(body)


def test_a_changed_requirement_is_routed_at_once() -> None:
    async def body() -> None:
        main = Queue(
            "main",
            required=(SkillRequirement("gold", 5),),
            overflow=(
                rule("widen", When.WAITED, Then.DROP_SKILLS, 5, skills=(SkillRequirement("gold"),)),
            ),
        )
        h = await started(main)
        await agent_for(h, "ann", ["main"], AgentState.AVAILABLE)  # no gold skill
        await enqueue(h, "i1", "main")
        assert h.get("i1").interaction.state == InteractionState.QUEUED
        await h.advance(5)
        offered = h.get("i1")
        assert offered.interaction.state == InteractionState.OFFERED
        assert offered.offer is not None and offered.offer.agent_id == "ann"

    run(body)


def test_a_chain_of_moves_then_an_end() -> None:
    async def body() -> None:
        c = Queue(
            "c", overflow=(rule("give-up", When.WAITED, Then.END, 90, disposition="voicemail"),)
        )
        b = Queue("b", overflow=(rule("to-c", When.WAITED, Then.MOVE, 60, queue="c"),))
        a = Queue("a", overflow=(rule("to-b", When.WAITED, Then.MOVE, 30, queue="b"),))
        h = await started(c, b, a)
        await enqueue(h, "i1", "a")
        await h.advance(30)
        assert h.get("i1").interaction.queue_id == "b"
        await h.advance(30)
        assert h.get("i1").interaction.queue_id == "c"
        await h.advance(30)
        done = h.get("i1")
        assert done.interaction.state == InteractionState.CANCELLED
        assert done.disposition == "voicemail"
        assert done.rules_fired == ("a/to-b", "b/to-c", "c/give-up")
        rules = [(q, n) for t, q, n in await history(h, "i1") if t == EventType.RULE_FIRED]
        assert rules == [("a", "to-b"), ("b", "to-c"), ("c", "give-up")]
        # Counted out of each queue it left; in to each it entered.
        totals: dict[str, Tally] = {}
        for bucket in h.router().tallies.buckets.values():
            for (q, _), t in bucket.items():
                totals.setdefault(q, Tally()).add(t)
        assert (totals["a"].offered, totals["a"].overflowed) == (1, 1)
        assert (totals["b"].offered, totals["b"].overflowed) == (1, 1)
        assert (totals["c"].offered, totals["c"].overflowed) == (1, 1)

    run(body)


def test_moves_through_queues_at_once_stop_because_each_rule_fires_once() -> None:
    async def body() -> None:
        # a -> b -> a is allowed (b could also end it); at enqueue every condition holds:
        # a's move fires, b's move back fires, and a's move has fired already: it stays.
        b = Queue(
            "b",
            overflow=(
                rule("back", When.WAITED, Then.MOVE, 0, queue="a"),
                rule("stop", When.WAITED, Then.END, 0, disposition="looped"),
            ),
        )
        a = Queue("a")
        h = await started(a, b)
        await put_queue(h, Queue("a", overflow=(rule("on", When.WAITED, Then.MOVE, 0, queue="b"),)))
        rec = await enqueue(h, "i1", "a")
        assert rec.interaction.state == InteractionState.QUEUED
        assert rec.interaction.queue_id == "a"
        assert rec.rules_fired == ("a/on", "b/back")

    run(body)


# --- the maximum wait --------------------------------------------------------------------------


def test_max_wait_ends_waiting_work_unless_a_rule_acted_first() -> None:
    async def body() -> None:
        spill = Queue("spill")
        main = Queue("main", max_wait_seconds=60)
        ruled = Queue(
            "ruled",
            max_wait_seconds=60,
            overflow=(rule("first", When.WAITED, Then.MOVE, 60, queue="spill"),),
        )
        h = await started(spill, main, ruled)
        await enqueue(h, "plain", "main")
        await enqueue(h, "saved", "ruled")
        await h.advance(59)
        assert h.get("plain").interaction.state == InteractionState.QUEUED
        await h.advance(1)
        plain = h.get("plain")
        assert plain.interaction.state == InteractionState.CANCELLED
        assert plain.disposition == "max_wait"
        saved = h.get("saved")
        assert saved.interaction.state == InteractionState.QUEUED
        assert saved.interaction.queue_id == "spill"

    run(body)


def test_work_offered_when_its_time_came_is_looked_at_when_the_offer_ends() -> None:
    async def body() -> None:
        main = Queue("main", max_wait_seconds=10)
        h = await started(main)
        await agent_for(h, "ann", ["main"], AgentState.AVAILABLE)
        await enqueue(h, "i1", "main")
        assert h.get("i1").interaction.state == InteractionState.OFFERED
        await h.advance(12)  # past the maximum wait, but an offer is out
        assert h.get("i1").interaction.state == InteractionState.OFFERED
        await h.reject("i1", "ann")
        gone = h.get("i1")
        assert gone.interaction.state == InteractionState.CANCELLED
        assert gone.disposition == "max_wait"

    run(body)


def test_overflowed_work_is_not_an_abandon() -> None:
    async def body() -> None:
        spill = Queue("spill")
        main = Queue("main", overflow=(rule("out", When.WAITED, Then.MOVE, 10, queue="spill"),))
        h = await started(spill, main)
        await enqueue(h, "moved", "main")
        await enqueue(h, "left", "main")
        await h.advance(8)
        await h.cancel("left")  # an abandon after 8 s
        await h.advance(5)
        day = h.router().tallies.buckets[bucket_of(MONDAY_8)]
        t = day[("main", Channel.CHAT)]
        assert (t.offered, t.abandoned, t.overflowed) == (2, 1, 1)
        assert abandonment_rate(t) == 1.0  # one abandon of the one that stayed

    run(body)


# --- changes and restarts ------------------------------------------------------------------------


def test_a_queue_changed_to_add_a_rule_applies_it_to_the_work_in_it() -> None:
    async def body() -> None:
        h = await started(Queue("spill"), Queue("main"))
        await enqueue(h, "i1", "main")
        await h.advance(100)
        await put_queue(
            h, Queue("main", overflow=(rule("late", When.WAITED, Then.MOVE, 50, queue="spill"),))
        )
        assert h.get("i1").interaction.queue_id == "spill"

    run(body)


def test_a_restart_keeps_the_rules_fired_and_their_timers() -> None:
    async def body() -> None:
        c = Queue("c")
        b = Queue("b", overflow=(rule("to-c", When.WAITED, Then.MOVE, 60, queue="c"),))
        a = Queue("a", overflow=(rule("to-b", When.WAITED, Then.MOVE, 30, queue="b"),))
        h = await started(c, b, a)
        await enqueue(h, "i1", "a")
        await h.advance(30)
        again = await h.restart()
        assert again.get("i1").rules_fired == ("a/to-b",)
        assert again.get("i1").interaction.queue_id == "b"
        await again.advance(30)
        assert again.get("i1").interaction.queue_id == "c"
        assert again.get("i1").rules_fired == ("a/to-b", "b/to-c")

    run(body)


def test_a_queue_that_closed_while_the_router_was_down_is_looked_at_on_load() -> None:
    async def body() -> None:
        hours = Hours("UTC", {"mon": parse_intervals(["08:00-09:00"], "mon")})
        office = Queue(
            "office",
            hours=hours,
            overflow=(rule("shut", When.CLOSED, Then.END, disposition="closed"),),
        )
        h = await started(office)
        await enqueue(h, "i1", "office")
        await h.tenants.stop()
        later = Harness(h.policy, h.store)
        later.clock.set(MONDAY_8 + 2 * 3600)
        await later.start()
        assert later.get("i1").disposition == "closed"

    run(body)


def test_a_restart_fires_no_size_rule_that_running_on_would_not_have() -> None:
    async def body() -> None:
        # i1 entered alone; i2 made the queue's size 2 and fired the rule on entering. i1's
        # condition holds too, but nothing looked at it; a restart must not either.
        main = Queue(
            "main", overflow=(rule("busy", When.SIZE, Then.RAISE_PRIORITY, 1, priority=5),)
        )
        h = await started(main)
        await enqueue(h, "i1", "main")
        await h.advance(1)
        await enqueue(h, "i2", "main")
        assert (fired(h, "i1"), fired(h, "i2")) == ((), ("main/busy",))
        again = await h.restart()
        assert (fired(again, "i1"), fired(again, "i2")) == ((), ("main/busy",))
        assert again.get("i1").interaction.priority == h.get("i1").interaction.priority

    run(body)


def test_a_restart_looks_at_the_new_queue_of_work_a_waited_rule_moved_while_down() -> None:
    async def body() -> None:
        # While the router was down i1 waited past main's threshold: on the load it moves,
        # and the queue it enters looks at all of its rules, size included, as any entry.
        spill = Queue("spill", overflow=(rule("full", When.SIZE, Then.END, 0, disposition="full"),))
        main = Queue("main", overflow=(rule("slow", When.WAITED, Then.MOVE, 30, queue="spill"),))
        h = await started(spill, main)
        await enqueue(h, "i1", "main")
        await h.tenants.stop()
        later = Harness(h.policy, h.store)
        later.clock.set(MONDAY_8 + 60)
        await later.start()
        assert later.get("i1").rules_fired == ("main/slow", "spill/full")
        assert later.get("i1").disposition == "full"

    run(body)
