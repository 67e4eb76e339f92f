"""One contract, two stores: the Redis store and the in-memory one behave the same, so the
tenant's logic may be tested (and simulated) on the in-memory one."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable

import pytest

from cim_router.domain.agent import Agent, AgentState
from cim_router.domain.channel import Channel
from cim_router.domain.hours import Hours, parse_intervals
from cim_router.domain.interaction import Interaction, InteractionState, SkillRequirement
from cim_router.domain.queues import (
    Membership,
    OverflowRule,
    Queue,
    ServiceLevelTarget,
    Then,
    When,
)
from cim_router.store import RedisSettings, RedisStore
from cim_router.store.memory import HISTORY_LENGTH, MemoryStore
from cim_router.tenant.ports import CustomerFootprint, Store
from cim_router.tenant.records import (
    AgentRecord,
    CustomerRecord,
    Erasure,
    Event,
    EventType,
    InteractionRecord,
    RequestOutcome,
    Transition,
)
from tests.redis_server import drop_prefix, redis_url, unique_prefix

STORES = ("memory", "redis")


class Listener:
    def __init__(self) -> None:
        self.durable: list[int] = []
        self.lost = 0
        self.recovered = 0

    def on_durable(self, seq: int) -> None:
        self.durable.append(seq)

    def on_lost(self) -> None:
        self.lost += 1

    def on_recovered(self) -> None:
        self.recovered += 1

    def on_fenced(self) -> None:
        return None


async def _open(kind: str) -> tuple[Store, Callable[[], Awaitable[None]]]:
    if kind == "memory":
        memory = MemoryStore()
        await memory.start()
        return memory, memory.close
    settings = RedisSettings.from_url(redis_url(), prefix=unique_prefix(), reconnect_seconds=0.05)
    redis_store = RedisStore(settings)
    await redis_store.start()

    async def close() -> None:
        await redis_store.close()
        drop_prefix(settings.prefix)

    return redis_store, close


def run(kind: str, body: Callable[[Store], Awaitable[None]]) -> None:
    async def main() -> None:
        store, close = await _open(kind)
        try:
            await body(store)
        finally:
            await close()

    asyncio.run(main())


def interaction(iid: str, state: InteractionState = InteractionState.QUEUED) -> InteractionRecord:
    i = Interaction(iid, Channel.CHAT, tenant="t", customer_id="c1", enqueued_at=100.0, state=state)
    i.context = {"order": "A-1"}
    return InteractionRecord(i, arrival=1)


def agent(agent_id: str) -> AgentRecord:
    return AgentRecord(Agent(agent_id, skills={"billing": 5}, state=AgentState.AVAILABLE))


async def commit(store: Store, tenant: str, t: Transition) -> int:
    seq = store.submit(tenant, t, t.create)
    await store.durable(seq)
    return seq


@pytest.fixture(params=STORES)
def kind(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def test_a_committed_transition_loads_back(kind: str) -> None:
    async def body(store: Store) -> None:
        queued, held = interaction("q"), interaction("h", InteractionState.ASSIGNED)
        held.agent_id = "ann"
        done = interaction("d", InteractionState.COMPLETED)
        t = Transition(
            interactions=[queued, held, done],
            agents=[agent("ann"), agent("bo")],
            new_tenant=True,
        )
        t.count("offered")
        t.count("offered")
        await commit(store, "t", t)
        await commit(store, "t", Transition(removed_agents=["bo"]))
        snap = await store.load("t")
        assert snap.known and snap.counters == {"offered": 2}
        assert sorted(r.id for r in snap.interactions) == ["h", "q"]  # the open ones
        assert [a.agent.id for a in snap.agents] == ["ann"]
        assert {r.id: r for r in snap.interactions}["h"] == held
        closed = await store.read_interaction("t", "d")
        assert closed is not None and closed.interaction.state == InteractionState.COMPLETED
        assert await store.read_interaction("t", "missing") is None
        assert await store.tenants() == ["t"]

    run(kind, body)


def test_stored_records_are_copies(kind: str) -> None:
    async def body(store: Store) -> None:
        rec, arec = interaction("q"), agent("ann")
        await commit(store, "t", Transition(interactions=[rec], agents=[arec], new_tenant=True))
        rec.interaction.state = InteractionState.CANCELLED  # later, not submitted
        rec.interaction.context = {"changed": True}
        arec.agent.load = {Channel.CHAT: 3}
        snap = await store.load("t")
        assert snap.interactions[0].interaction.state == InteractionState.QUEUED
        assert snap.interactions[0].interaction.context == {"order": "A-1"}
        assert snap.agents[0].agent.load == {}

    run(kind, body)


def test_only_tenants_that_wrote_as_new_are_listed(kind: str) -> None:
    async def body(store: Store) -> None:
        await commit(store, "a", Transition(agents=[agent("x")], new_tenant=True))
        await commit(store, "b", Transition(agents=[agent("y")]))
        assert await store.tenants() == ["a"]
        assert (await store.load("a")).known and not (await store.load("b")).known
        assert not (await store.load("nobody")).known

    run(kind, body)


def test_history_is_kept_in_order_and_capped_to_the_newest(kind: str) -> None:
    async def body(store: Store) -> None:
        events = [
            Event(float(n), EventType.CONTEXT_UPDATED, "q", Channel.CHAT, reason=str(n))
            for n in range(HISTORY_LENGTH + 5)
        ]
        t = Transition(interactions=[interaction("q")], events=events[:3], new_tenant=True)
        await commit(store, "t", t)
        assert [e.reason for e in await store.read_history("t", "q")] == ["0", "1", "2"]
        await commit(store, "t", Transition(events=events[3:]))
        kept = await store.read_history("t", "q")
        assert len(kept) == HISTORY_LENGTH
        assert kept[0].reason == "5" and kept[-1] == events[-1]
        assert await store.read_history("t", "other") == []

    run(kind, body)


def test_a_request_outcome_is_stored_with_its_change(kind: str) -> None:
    async def body(store: Store) -> None:
        outcome = RequestOutcome("r1", "Enqueue", b"\x01", "q", created=True)
        t = Transition(interactions=[interaction("q")], request=outcome, new_tenant=True)
        await commit(store, "t", t)
        assert await store.read_request("t", "r1") == outcome
        assert await store.read_request("t", "r2") is None
        assert await store.read_request("other", "r1") is None

    run(kind, body)


def test_existing_interaction_and_customer_are_read_together(kind: str) -> None:
    async def body(store: Store) -> None:
        customer = CustomerRecord("c1", "q", "ann", 50.0)
        t = Transition(interactions=[interaction("q")], customers=[customer], new_tenant=True)
        await commit(store, "t", t)
        rec, found = await store.read_existing("t", "q", "c1")
        assert rec is not None and rec.id == "q" and found == customer
        rec, found = await store.read_existing("t", "new", "")
        assert rec is None and found is None

    run(kind, body)


def test_a_create_guard_on_an_existing_interaction_loses_the_change(kind: str) -> None:
    async def body(store: Store) -> None:
        listener = Listener()
        store.listen(listener)
        first = Transition(interactions=[interaction("q")], create="q", new_tenant=True)
        await commit(store, "t", first)
        again = interaction("q")
        again.interaction.priority = 99
        seq = store.submit("t", Transition(interactions=[again], create="q"), "q")
        with pytest.raises(Exception) as lost:
            await store.durable(seq)
        assert type(lost.value).__name__ == "Unavailable"
        await _until(lambda: listener.lost == 1 and listener.recovered == 1)
        stored = await store.read_interaction("t", "q")
        assert stored is not None and stored.interaction.priority == 0  # nothing written

    run(kind, body)


def test_listeners_hear_of_durable_submissions_in_order(kind: str) -> None:
    async def body(store: Store) -> None:
        listener = Listener()
        store.listen(listener)
        seqs = [store.submit("t", Transition(agents=[agent(f"a{n}")])) for n in range(5)]
        assert seqs == sorted(seqs) and len(set(seqs)) == 5
        await store.durable(seqs[-1])
        await _until(lambda: bool(listener.durable) and listener.durable[-1] >= seqs[-1])
        assert listener.durable == sorted(listener.durable)
        assert store.submitted == seqs[-1]

    run(kind, body)


async def _until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.01)


def test_an_erasure_removes_the_customer_their_history_and_stream_entries(kind: str) -> None:
    async def body(store: Store) -> None:
        mine, theirs = interaction("q"), interaction("p")
        theirs.interaction.customer_id = "c2"
        done = interaction("d", InteractionState.COMPLETED)
        events = [Event(1.0, EventType.ENQUEUED, iid, Channel.CHAT, caller="k1") for iid in "qpd"]
        t = Transition(
            interactions=[mine, theirs, done],
            events=events,
            customers=[CustomerRecord("c1", "q"), CustomerRecord("c2", "p")],
            new_tenant=True,
        )
        await commit(store, "t", t)
        found = await store.read_customer("t", "c1")
        assert found.known and found.interaction_ids == ("d", "q")  # closed ones indexed too
        erasable = await store.read_erasable("t", found.interaction_ids)
        assert erasable.history_events == 2 and len(erasable.stream_entries) == 2
        # An event written after the scan is erased with the rest.
        await commit(
            store, "t", Transition(events=[Event(2.0, EventType.OFFERED, "q", Channel.CHAT)])
        )
        anonymous = interaction("q")
        anonymous.interaction.customer_id, anonymous.interaction.context = "", {}
        erasure = Erasure("c1", ("d", "q"), erasable.stream_entries, erasable.scanned_to)
        await commit(store, "t", Transition(interactions=[anonymous], erasures=[erasure]))
        assert await store.read_customer("t", "c1") == CustomerFootprint()
        _, customer = await store.read_existing("t", "q", "c1")
        assert customer is None
        assert await store.read_history("t", "q") == [] and await store.read_history("t", "d") == []
        left = await store.read_erasable("t", ("d", "q"))
        assert left.history_events == 0 and left.stream_entries == ()
        stored = await store.read_interaction("t", "q")
        assert stored is not None and stored.interaction.customer_id == ""
        assert stored.interaction.context == {}
        # Someone else's are untouched.
        assert [e.interaction_id for e in await store.read_history("t", "p")] == ["p"]
        assert (await store.read_customer("t", "c2")).interaction_ids == ("p",)
        assert len((await store.read_erasable("t", ("p",))).stream_entries) == 1

    run(kind, body)


def test_an_erasure_finds_and_deletes_entries_across_pages_of_a_long_stream(kind: str) -> None:
    async def body(store: Store) -> None:
        events = [
            Event(float(n), EventType.OFFERED, "q" if n % 700 == 0 else f"o{n}", Channel.CHAT)
            for n in range(2600)
        ]
        t = Transition(interactions=[interaction("q")], events=events, new_tenant=True)
        await commit(store, "t", t)
        found = await store.read_erasable("t", ("q",))
        assert len(found.stream_entries) == 4  # 0, 700, 1400, 2100
        # A commit that scans the whole stream itself (nothing listed) finds them too.
        await commit(store, "t", Transition(erasures=[Erasure("c1", ("q",), (), "")]))
        left = await store.read_erasable("t", ("q", "o1", "o2599"))
        assert left.stream_entries and len(left.stream_entries) == 2  # o1 and o2599 only

    run(kind, body)


def test_tallies_add_up_across_transitions_and_read_back_by_bucket(kind: str) -> None:
    async def body(store: Store) -> None:
        first = Transition(new_tenant=True)
        first.tally(1000, "sales|voice|answered", 1)
        first.tally(1000, "sales|voice|wait_seconds", 2.5)
        first.tally(1001, "q|with|bars|chat|offered", 1)
        await commit(store, "t", first)
        second = Transition()
        second.tally(1000, "sales|voice|answered", 2)
        second.tally(1000, "sales|voice|wait_seconds", 0.25)
        second.tally(1000, "sales|voice|csat_sum", -2)
        second.tally(1005, "sales|voice|offered", 1)
        await commit(store, "t", second)
        other = Transition(new_tenant=True)
        other.tally(1000, "sales|voice|answered", 7)
        await commit(store, "u", other)
        found = await store.read_tallies("t", 1000, 1004)
        assert found == {
            1000: {
                "sales|voice|answered": 3.0,
                "sales|voice|wait_seconds": 2.75,
                "sales|voice|csat_sum": -2.0,
            },
            1001: {"q|with|bars|chat|offered": 1.0},
        }
        assert await store.read_tallies("t", 2000, 2010) == {}
        assert await store.read_tallies("u", 1000, 1000) == {1000: {"sales|voice|answered": 7.0}}


def test_queues_and_routing_profiles_are_stored_changed_and_removed(kind: str) -> None:
    async def body(store: Store) -> None:
        hours = Hours(
            "Europe/Paris",
            {"mon": parse_intervals(["09:00-12:00", "13:00-17:00"], "mon")},
            {dt.date(2026, 12, 25): ()},
        )
        rule = OverflowRule("spill", When.WAITED, Then.MOVE, 60.0, queue="b", keep_place=False)
        a = Queue(
            "a",
            display_name="A",
            channels=frozenset({Channel.VOICE}),
            required=(SkillRequirement("billing", 3),),
            priority=7,
            service_level=ServiceLevelTarget(30.0, 0.9),
            max_size=10,
            hours=hours,
            overflow=(rule,),
        )
        ann = agent("ann")
        ann.agent.routing_profile = {"a": Membership(3, 12.5), "b": Membership()}
        await commit(store, "t", Transition(queues=[a, Queue("b")], agents=[ann], new_tenant=True))
        snap = await store.load("t")
        assert {q.id: q for q in snap.queues} == {"a": a, "b": Queue("b")}
        assert snap.agents[0].agent.routing_profile == ann.agent.routing_profile
        assert list(snap.agents[0].agent.routing_profile) == ["a", "b"]  # in the order given
        await commit(store, "t", Transition(queues=[Queue("a", priority=1)], removed_queues=["b"]))
        snap = await store.load("t")
        assert snap.queues == [Queue("a", priority=1)]

    run(kind, body)


def test_an_interactions_queue_and_a_queue_change_event_load_back(kind: str) -> None:
    async def body(store: Store) -> None:
        rec = interaction("q1")
        rec.interaction.queue_id = "sales"
        moved = Event(5.0, EventType.QUEUE_CHANGED, "q1", Channel.CHAT, queue_id="sales")
        await commit(store, "t", Transition(interactions=[rec], events=[moved], new_tenant=True))
        snap = await store.load("t")
        assert snap.interactions[0].interaction.queue_id == "sales"
        assert await store.read_history("t", "q1") == [moved]

    run(kind, body)


def test_hold_state_and_feedback_load_back(kind: str) -> None:
    async def body(store: Store) -> None:
        held = interaction("h1", InteractionState.ASSIGNED)
        held.agent_id = "ann"
        held.hold_started_at, held.hold_count, held.hold_seconds = 50.0, 3, 42.5
        held.hold_limit_raised = True
        done = interaction("d1", InteractionState.COMPLETED)
        done.completed_at, done.csat = 70.0, 4
        done.feedback_comment, done.feedback_fields = "kind", {"nps": "9"}
        asked = Event(70.0, EventType.FEEDBACK_REQUESTED, "d1", Channel.CHAT, "ann", "cust-1")
        t = Transition(interactions=[held, done], events=[asked], new_tenant=True)
        await commit(store, "t", t)
        snap = await store.load("t")
        (loaded,) = snap.interactions
        assert loaded == held
        assert await store.read_interaction("t", "d1") == done
        assert await store.read_history("t", "d1") == [asked]
        plain = interaction("p1")  # none of it: the defaults
        await commit(store, "t", Transition(interactions=[plain]))
        back = await store.read_interaction("t", "p1")
        assert back is not None and (back.hold_count, back.completed_at, back.feedback_fields) == (
            0,
            0.0,
            {},
        )

    run(kind, body)
