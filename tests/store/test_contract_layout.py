"""The contract where the Redis layout changed: a closed interaction's history (folded into
its record, with compact records) and a customer's record and index (one hash). Both stores
behave the same, and the Redis store in either record format; the Redis store also reads
what versions before wrote (a record of version 1 and its list, a customer's string and
set) and ForgetCustomer erases every layout."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
import redis

from cim_router.domain.channel import Channel
from cim_router.domain.interaction import InteractionState
from cim_router.store import RedisSettings, RedisStore, compact
from cim_router.store.memory import HISTORY_LENGTH, MemoryStore
from cim_router.tenant.ports import CustomerFootprint, Store
from cim_router.tenant.records import CustomerRecord, Erasure, Event, EventType, Transition
from tests.redis_server import drop_prefix, redis_url, unique_prefix
from tests.store.test_contract import commit, interaction

KINDS = ("memory", "redis", "redis-json")
RETENTION = 3600


def run(kind: str, body: Callable[[Store], Awaitable[None]]) -> None:
    async def main() -> None:
        if kind == "memory":
            store: Store = MemoryStore()
            await store.start()
            await body(store)
            await store.close()
            return
        fmt = "json" if kind == "redis-json" else "compact"
        settings = RedisSettings.from_url(
            redis_url(), prefix=unique_prefix(), record_format=fmt, retention_seconds=RETENTION
        )
        redis_store = RedisStore(settings)
        await redis_store.start()
        try:
            await body(redis_store)
        finally:
            await redis_store.close()
            drop_prefix(settings.prefix)

    asyncio.run(main())


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def _event(n: int, iid: str = "d", type_: EventType = EventType.CONTEXT_UPDATED) -> Event:
    return Event(float(n), type_, iid, Channel.CHAT, reason=str(n))


def test_a_closed_interactions_history_reads_in_order_with_events_after_its_close(
    kind: str,
) -> None:
    async def body(store: Store) -> None:
        opened = Transition(interactions=[interaction("d")], events=[_event(0), _event(1)])
        await commit(store, "t", opened)
        done = interaction("d", InteractionState.COMPLETED)
        await commit(store, "t", Transition(interactions=[done], events=[_event(2)]))
        assert [e.reason for e in await store.read_history("t", "d")] == ["0", "1", "2"]
        if isinstance(store, RedisStore) and store.settings.record_format == "compact":
            # Folded into the record: no list is left.
            assert await store.redis.exists(store.keys.history("t", "d")) == 0
        # An event after the close (no record written with it), then one with the record.
        await commit(store, "t", Transition(events=[_event(3)]))
        if isinstance(store, RedisStore):
            ttl = await store.redis.ttl(store.keys.history("t", "d"))
            assert RETENTION - 60 < ttl <= RETENTION  # the record's: it expires with it
        assert [e.reason for e in await store.read_history("t", "d")] == ["0", "1", "2", "3"]
        done.feedback_comment = "kind"
        await commit(store, "t", Transition(interactions=[done], events=[_event(4)]))
        assert [e.reason for e in await store.read_history("t", "d")] == ["0", "1", "2", "3", "4"]
        assert await store.read_interaction("t", "d") == done
        assert await store.read_history("t", "other") == []

    run(kind, body)


def test_the_newest_history_is_kept_across_the_close_and_after_it(kind: str) -> None:
    async def body(store: Store) -> None:
        n = HISTORY_LENGTH - 2
        events = [_event(k) for k in range(n)]
        await commit(store, "t", Transition(interactions=[interaction("d")], events=events))
        done = interaction("d", InteractionState.COMPLETED)
        await commit(store, "t", Transition(interactions=[done], events=[_event(n)]))
        await commit(store, "t", Transition(events=[_event(n + 1), _event(n + 2)]))
        kept = [int(e.reason) for e in await store.read_history("t", "d")]
        assert kept == list(range(1, n + 3))  # the newest HISTORY_LENGTH, oldest first
        await commit(store, "t", Transition(interactions=[done], events=[_event(n + 3)]))
        kept = [int(e.reason) for e in await store.read_history("t", "d")]
        assert kept == list(range(2, n + 4))

    run(kind, body)


def test_forgetting_a_customer_erases_a_closed_interactions_history_and_their_index(
    kind: str,
) -> None:
    async def body(store: Store) -> None:
        mine = interaction("q")
        opened = Transition(
            interactions=[mine, interaction("d")],
            events=[_event(0, "q"), _event(1, "d"), _event(2, "d")],
            customers=[CustomerRecord("c1", "q", "ann", 50.0)],
            new_tenant=True,
        )
        await commit(store, "t", opened)
        done = interaction("d", InteractionState.COMPLETED)
        await commit(store, "t", Transition(interactions=[done], events=[_event(3, "d")]))
        await commit(store, "t", Transition(events=[_event(4, "d")]))  # after the close
        found = await store.read_customer("t", "c1")
        assert found == CustomerFootprint(True, ("d", "q"))
        _, customer = await store.read_existing("t", "q", "c1")
        assert customer == CustomerRecord("c1", "q", "ann", 50.0)
        erasable = await store.read_erasable("t", ("d", "q"))
        assert erasable.history_events == 5  # what the record holds and the lists
        anonymous = [interaction("q"), interaction("d", InteractionState.COMPLETED)]
        for rec in anonymous:
            rec.interaction.customer_id, rec.interaction.context = "", {}
        erasure = Erasure("c1", ("d", "q"), erasable.stream_entries, erasable.scanned_to)
        await commit(store, "t", Transition(interactions=anonymous, erasures=[erasure]))
        assert await store.read_customer("t", "c1") == CustomerFootprint()
        assert (await store.read_existing("t", "q", "c1"))[1] is None
        assert await store.read_history("t", "d") == [] and await store.read_history("t", "q") == []
        assert (await store.read_erasable("t", ("d", "q"))).history_events == 0
        assert await store.read_interaction("t", "d") == anonymous[1]  # the record stays
        if isinstance(store, RedisStore):
            k = store.keys
            gone = [k.customer_fields("t", "c1"), k.customer("t", "c1")]
            gone += [k.customer_interactions("t", "c1"), k.history("t", "d")]
            assert await store.redis.exists(*gone) == 0
            ttl = await store.redis.ttl(k.interaction("t", "d"))
            assert RETENTION - 60 < ttl <= RETENTION

    run(kind, body)


# --- the Redis store and what versions before wrote ------------------------------------------


@pytest.fixture(params=KINDS[1:])
def redis_kind(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def test_a_customer_in_the_layout_before_reads_and_is_erased_with_the_new_one(
    redis_kind: str,
) -> None:
    async def body(store: Store) -> None:
        assert isinstance(store, RedisStore)
        k, r = store.keys, store.redis
        old = interaction("old")
        await commit(store, "t", Transition(interactions=[old], new_tenant=True))
        # As versions before wrote them: a string (compact) and a set.
        before = CustomerRecord("c1", "old", "bo", 40.0)
        await r.set(k.customer("t", "c1"), compact.customer_out(before), ex=RETENTION)
        await r.sadd(k.customer_interactions("t", "c1"), "old")
        assert (await store.read_existing("t", "new", "c1"))[1] == before
        assert await store.read_customer("t", "c1") == CustomerFootprint(True, ("old",))
        view = await store.read_customer_view("t", "c1")
        assert view.record == before and [i.id for i in view.interactions] == ["old"]
        # Written again (in the store's format): the new record wins, both indexes count.
        now = CustomerRecord("c1", "new", "ann", 60.0)
        written = Transition(interactions=[interaction("new")], customers=[now])
        await commit(store, "t", written)
        assert (await store.read_existing("t", "new", "c1"))[1] == now
        assert await store.read_customer("t", "c1") == CustomerFootprint(True, ("new", "old"))
        view = await store.read_customer_view("t", "c1")
        assert view.record == now and [i.id for i in view.interactions] == ["new", "old"]
        erasure = Erasure("c1", ("new", "old"))
        await commit(store, "t", Transition(erasures=[erasure]))
        assert await store.read_customer("t", "c1") == CustomerFootprint()
        keys = [k.customer_fields("t", "c1"), k.customer("t", "c1")]
        assert await r.exists(*keys, k.customer_interactions("t", "c1")) == 0

    run(redis_kind, body)


def test_a_closed_record_of_version_1_and_its_list_read_and_fold_later(redis_kind: str) -> None:
    async def body(store: Store) -> None:
        assert isinstance(store, RedisStore)
        k, r = store.keys, store.redis
        done = interaction("d", InteractionState.COMPLETED)
        # As versions before closed it: the record (version 1) and its list, both expiring.
        await r.set(k.interaction("t", "d"), compact.interaction_out(done), ex=RETENTION)
        history = k.history("t", "d")
        await r.rpush(history, *(compact.history_event_out(_event(n)) for n in range(2)))
        await r.expire(history, RETENTION)
        assert await store.read_interaction("t", "d") == done
        assert [e.reason for e in await store.read_history("t", "d")] == ["0", "1"]
        await commit(store, "t", Transition(events=[_event(2)]))
        done.csat = 5
        await commit(store, "t", Transition(interactions=[done], events=[_event(3)]))
        assert await store.read_interaction("t", "d") == done
        assert [e.reason for e in await store.read_history("t", "d")] == ["0", "1", "2", "3"]
        stored = await r.get(k.interaction("t", "d"))
        folded = len(compact.folded_history(stored)) if isinstance(stored, bytes) else -1
        assert folded == (4 if store.settings.record_format == "compact" else 0)

    run(redis_kind, body)


def test_a_customer_hash_of_the_wrong_type_reads_as_none_and_the_reads_beside_it_answer(
    redis_kind: str,
) -> None:
    async def body(store: Store) -> None:
        assert isinstance(store, RedisStore)
        await commit(store, "t", Transition(interactions=[interaction("q")], new_tenant=True))
        await store.redis.set(store.keys.customer_fields("t", "c1"), b"something else's")
        both = await asyncio.gather(
            store.read_existing("t", "q", "c1"), store.read_existing("t", "q", "c2")
        )
        assert [(rec is not None and rec.id, c) for rec, c in both] == [("q", None), ("q", None)]
        assert await store.read_interaction("t", "q") is not None

    run(redis_kind, body)


def test_the_commit_scripts_folded_record_reads_as_compact_decodes_it() -> None:
    """The Lua side packs the history as msgpack str; the reader takes them as bytes."""
    done = interaction("d", InteractionState.COMPLETED)
    client = redis.Redis.from_url(redis_url())
    try:
        entries = [compact.history_event_out(_event(n)) for n in range(3)]
        script = "local r = table.remove(ARGV, 1) "
        script += "return string.char(2) .. cmsgpack.pack(ARGV) .. string.sub(r, 2)"
        folded = client.eval(script, 0, compact.interaction_out(done), *entries)
    finally:
        client.close()
    assert isinstance(folded, bytes) and folded[0] == compact.FOLDED
    assert compact.folded_history(folded) == entries
    assert compact.interaction_in(folded, "t") == done
