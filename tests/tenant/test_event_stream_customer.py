"""The event stream's followers and the customer view on the in-memory store and the manual
clock: a follower is woken by the tenant's durable changes and reads only what is stored,
filters by type, stops at a trimmed cursor and when the tenant goes; the customer view's
order, pages and totals (a repeat only within the FCR window)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from cim_router.domain.channel import Channel
from cim_router.domain.policy import Policy
from cim_router.store.memory import MemoryStore
from cim_router.tenant import customer_view, event_stream, stream_ids
from cim_router.tenant.errors import NotFound, OutOfRange, ResourceExhausted
from cim_router.tenant.ports import StreamEntry, StreamPage
from cim_router.tenant.records import EventType
from tests.tenant.harness import TENANT, Harness, run

DAY = 86_400.0


async def _gather(h: Harness, cursor: str, types: set[EventType], out: list[StreamEntry]) -> None:
    r = h.router()
    watcher = event_stream.subscribe(r, limit=2)
    try:
        async for entry in event_stream.follow(r, watcher, cursor, types):
            out.append(entry)
    finally:
        r.hub.unsubscribe(watcher)


def test_a_follower_gets_each_stored_event_once_in_order_of_the_types_it_wants() -> None:
    async def body() -> None:
        h = await Harness().start()
        await h.enqueue("i0")
        r = h.router()
        start = await event_stream.start_cursor(r, "", from_start=False)
        everything: list[StreamEntry] = []
        cancelled: list[StreamEntry] = []
        tasks = [
            asyncio.create_task(_gather(h, start, set(), everything)),
            asyncio.create_task(_gather(h, stream_ids.START, {EventType.CANCELLED}, cancelled)),
        ]
        await h.settle()
        with pytest.raises(ResourceExhausted):  # the cap: two at once
            event_stream.subscribe(r, limit=2)
        await h.enqueue("i1")
        await h.cancel("i1")
        await h.cancel("i0")
        for _ in range(100):  # turns of the loop, no time: the followers read what is stored
            if len(everything) >= 3 and len(cancelled) >= 2:
                break
            await asyncio.sleep(0)
        assert [(e.event.type, e.event.interaction_id) for e in everything] == [
            (EventType.ENQUEUED, "i1"),
            (EventType.CANCELLED, "i1"),
            (EventType.CANCELLED, "i0"),
        ]
        assert [e.event.interaction_id for e in cancelled] == ["i1", "i0"]
        stored = [e.id for e in (await h.store.read_events(TENANT, "0-0", 10)).entries]
        assert [e.id for e in everything] == stored[1:]
        h.tenants.remove(TENANT)  # the tenant goes: its streams end
        await asyncio.wait_for(asyncio.gather(*tasks), 1.0)

    run(body)


def test_a_cursor_older_than_the_stream_is_refused_naming_its_first_entry() -> None:
    async def body() -> None:
        h = await Harness(store=MemoryStore(stream_length=3)).start()
        for n in range(5):
            await h.enqueue(f"i{n}")
        r = h.router()
        kept = [e.id for e in (await h.store.read_events(TENANT, "0-0", 10)).entries]
        assert kept == ["0-3", "0-4", "0-5"]
        with pytest.raises(OutOfRange, match="now starts at 0-3"):
            await event_stream.start_cursor(r, "0-1", from_start=False)
        assert await event_stream.start_cursor(r, "0-3", from_start=False) == "0-3"
        assert await event_stream.start_cursor(r, "", from_start=True) == stream_ids.START
        assert await event_stream.start_cursor(r, "", from_start=False) == "0-5"

    run(body)


def test_the_customer_view_pages_newest_first_and_counts_repeats_in_the_window() -> None:
    async def body() -> None:
        h = await Harness(Policy(fcr_window_days=7)).start()
        await h.agent("ann", capacity={Channel.VOICE: 1, Channel.EMAIL: 1})
        await h.enqueue("chat-1", customer_id="c1")
        await h.accept("chat-1", "ann")
        await h.complete("chat-1", "ann", csat=4)
        await h.advance(3 * DAY)
        await h.enqueue("call-1", Channel.VOICE, customer_id="c1")  # within 7 days: repeat
        await h.accept("call-1", "ann")
        await h.complete("call-1", "ann", csat=1)
        await h.advance(8 * DAY)
        await h.enqueue("mail-1", Channel.EMAIL, customer_id="c1")  # 8 days on: not one
        r = h.router()
        page = await customer_view.get_customer(r, "c1", None, 2)
        assert [rec.id for rec in page.interactions] == ["mail-1", "call-1"] and page.more
        assert page.totals == customer_view.CustomerTotals(3, 1, 2, 5)
        assert page.totals.csat_mean == 2.5 and page.last_agent_id == "ann"
        assert [rec.id for rec in page.open] == ["mail-1"]
        after = customer_view.sort_key(page.interactions[-1])
        rest = await customer_view.get_customer(r, "c1", after, 2)
        assert [rec.id for rec in rest.interactions] == ["chat-1"] and not rest.more
        again = await h.restart()  # the index and the repeat flags are stored
        reloaded = await customer_view.get_customer(again.router(), "c1", None, 10)
        assert [rec.id for rec in reloaded.interactions] == ["mail-1", "call-1", "chat-1"]
        assert reloaded.totals == page.totals
        await again.forget("c1")
        with pytest.raises(NotFound):
            await customer_view.get_customer(again.router(), "c1", None, 10)

    run(body)


class CountingStore(MemoryStore):
    """The in-memory store, counting its reads of the event stream."""

    def __init__(self) -> None:
        super().__init__()
        self.stream_reads = 0

    async def read_events(self, tenant: str, after: str, count: int) -> StreamPage:
        self.stream_reads += 1
        return await super().read_events(tenant, after, count)


def test_followers_at_one_cursor_share_one_read() -> None:
    async def body() -> None:
        store = CountingStore()
        h = await Harness(store=store).start()
        await h.enqueue("i0")
        lists: list[list[StreamEntry]] = [[] for _ in range(10)]
        r = h.router()
        tasks = []
        for out in lists:
            watcher = event_stream.subscribe(r, limit=10)
            follower = event_stream.follow(r, watcher, stream_ids.START, ())
            tasks.append(asyncio.create_task(_drain(follower, out)))
        for _ in range(100):
            if all(len(out) == 1 for out in lists):
                break
            await asyncio.sleep(0)
        before = store.stream_reads
        await h.enqueue("i1")
        for _ in range(100):
            if all(len(out) == 2 for out in lists):
                break
            await asyncio.sleep(0)
        assert all([e.event.interaction_id for e in out] == ["i0", "i1"] for out in lists)
        assert store.stream_reads - before <= 2, store.stream_reads - before  # not 10
        h.tenants.remove(TENANT)
        await asyncio.wait_for(asyncio.gather(*tasks), 1.0)

    run(body)


async def _drain(follower: AsyncIterator[StreamEntry], out: list[StreamEntry]) -> None:
    async for entry in follower:
        out.append(entry)
