"""The event stream's reads and the customer view, one contract for both stores: entry ids
of one form ("MS-SEQ", growing along the stream), pages strictly after an id, where the
stream starts once trimmed, and the interactions the customer index lists."""

from __future__ import annotations

import redis

from cim_router.domain.channel import Channel
from cim_router.domain.interaction import InteractionState
from cim_router.store.redis_store import RedisStore
from cim_router.tenant import stream_ids
from cim_router.tenant.ports import Store, StreamPage
from cim_router.tenant.records import CustomerRecord, Erasure, Event, EventType, Transition
from tests.redis_server import redis_url
from tests.store.test_contract import commit, interaction, kind, run

__all__ = ["kind"]


def _events(n: int, iid: str = "q", start: int = 0) -> list[Event]:
    return [
        Event(float(k), EventType.ENQUEUED, iid, Channel.CHAT, reason=str(k))
        for k in range(start, start + n)
    ]


def test_stream_ids_have_one_form_and_grow(kind: str) -> None:
    async def body(store: Store) -> None:
        # An empty stream: nothing, no first or last id.
        assert await store.read_events("t", stream_ids.START, 10) == StreamPage()
        await commit(store, "t", Transition(events=_events(3), new_tenant=True))
        await commit(store, "t", Transition(events=_events(2, start=3)))
        page = await store.read_events("t", stream_ids.START, 100)
        ids = [e.id for e in page.entries]
        assert [e.event.reason for e in page.entries] == ["0", "1", "2", "3", "4"]
        assert all(stream_ids.is_valid(i) for i in ids)
        assert [stream_ids.parse(i) for i in ids] == sorted({stream_ids.parse(i) for i in ids})
        assert page.first_id == ids[0] and page.last_id == ids[-1] == page.scanned_to
        assert page.size == 5

    run(kind, body)


def test_a_page_starts_strictly_after_the_id_and_holds_at_most_count(kind: str) -> None:
    async def body(store: Store) -> None:
        await commit(store, "t", Transition(events=_events(7), new_tenant=True))
        all_ids = [e.id for e in (await store.read_events("t", stream_ids.START, 100)).entries]
        page = await store.read_events("t", all_ids[2], 3)
        assert [e.id for e in page.entries] == all_ids[3:6]
        assert page.scanned_to == all_ids[5] and page.size == 3
        assert page.first_id == all_ids[0] and page.last_id == all_ids[-1]
        tail = await store.read_events("t", all_ids[-1], 3)
        assert tail.entries == () and tail.scanned_to == "" and tail.size == 0
        assert tail.last_id == all_ids[-1]
        # Another tenant's stream is its own.
        assert (await store.read_events("u", stream_ids.START, 10)).entries == ()

    run(kind, body)


def test_erased_entries_are_gone_and_the_others_keep_their_ids(kind: str) -> None:
    async def body(store: Store) -> None:
        events = [*_events(2, "a"), *_events(2, "b", 2), *_events(1, "a", 4)]
        rec = interaction("a", InteractionState.COMPLETED)
        await commit(store, "t", Transition(interactions=[rec], events=events, new_tenant=True))
        before = {e.event.reason: e.id for e in (await store.read_events("t", "0-0", 9)).entries}
        erasable = await store.read_erasable("t", ("a",))
        erasure = Erasure("c1", ("a",), erasable.stream_entries, erasable.scanned_to)
        await commit(store, "t", Transition(erasures=[erasure]))
        after = (await store.read_events("t", "0-0", 9)).entries
        assert [(e.event.reason, e.id) for e in after] == [("2", before["2"]), ("3", before["3"])]

    run(kind, body)


def test_the_customer_view_lists_the_indexed_interactions_still_theirs(kind: str) -> None:
    async def body(store: Store) -> None:
        chat, done = interaction("chat"), interaction("done", InteractionState.COMPLETED)
        done.csat, done.repeat = 4, True
        other = interaction("other")
        other.interaction.customer_id = "c2"
        t = Transition(
            interactions=[chat, done, other],
            customers=[CustomerRecord("c1", "chat", "ann", 50.0), CustomerRecord("c2", "other")],
            new_tenant=True,
        )
        await commit(store, "t", t)
        await commit(store, "t", Transition(customers=[CustomerRecord("c1", "done", "ann", 60.0)]))
        view = await store.read_customer_view("t", "c1")
        assert view.record == CustomerRecord("c1", "done", "ann", 60.0)
        assert sorted(r.id for r in view.interactions) == ["chat", "done"]
        stored = {r.id: r for r in view.interactions}
        assert stored["done"] == done and stored["done"].repeat and stored["chat"] == chat
        unknown = await store.read_customer_view("t", "nobody")
        assert unknown.record is None and unknown.interactions == ()
        # An id the index lists that now belongs to someone else is left out.
        reused = interaction("chat")
        reused.interaction.customer_id = "c3"
        await commit(store, "t", Transition(interactions=[reused]))
        assert [r.id for r in (await store.read_customer_view("t", "c1")).interactions] == ["done"]
        # Forgotten: no record, no interactions.
        await commit(store, "t", Transition(erasures=[Erasure("c1", ("chat", "done"))]))
        gone = await store.read_customer_view("t", "c1")
        assert gone.record is None and gone.interactions == ()

    run(kind, body)


def test_a_trimmed_stream_starts_at_its_first_kept_entry(kind: str) -> None:
    async def body(store: Store) -> None:
        await commit(store, "t", Transition(events=_events(6), new_tenant=True))
        ids = [e.id for e in (await store.read_events("t", "0-0", 9)).entries]
        _trim(store, "t", 2)
        page = await store.read_events("t", "0-0", 9)
        assert [e.id for e in page.entries] == ids[-2:] and page.first_id == ids[-2]
        assert stream_ids.before(ids[0], page.first_id)

    run(kind, body)


def _trim(store: Store, tenant: str, keep: int) -> None:
    """Trim the stream to its newest `keep` entries, as its retention does."""
    if isinstance(store, RedisStore):
        client = redis.Redis.from_url(redis_url())
        try:
            client.xtrim(store.keys.events(tenant), maxlen=keep, approximate=False)
        finally:
            client.close()
        return
    from cim_router.store.memory import MemoryStore

    assert isinstance(store, MemoryStore)
    events = store.data(tenant).events
    while len(events) > keep:
        events.popleft()


def test_nothing_comes_after_the_greatest_id(kind: str) -> None:
    async def body(store: Store) -> None:
        await commit(store, "t", Transition(events=_events(2), new_tenant=True))
        page = await store.read_events("t", stream_ids.LAST, 10)
        assert page.entries == () and page.size == 0 and page.first_id and page.last_id

    run(kind, body)
