"""Per-queue and per-channel measures of a scripted day (tests/tenant/measures_day.py),
against the figures worked out by hand; the 15-minute window sliding; a restart keeping
today's figures."""

from __future__ import annotations

import math
from typing import Any

import pytest

from cim_router.domain.agent import AgentState
from cim_router.domain.channel import Channel
from cim_router.domain.policy import Policy
from cim_router.tenant import reports
from cim_router.tenant.errors import NotFound
from cim_router.tenant.measures import measures
from cim_router.tenant.windows import MeasureRow
from tests.tenant.harness import Harness, run
from tests.tenant.measures_day import (
    MIDNIGHT,
    POLICY,
    SALES_VOICE,
    SUPPORT_CHAT,
    TENANT,
    play_day,
)

NAMES = {
    "service_level": "service_level",
    "asa_seconds": "average_speed_of_answer",
    "aht_seconds": "average_handle_time",
    "abandonment_rate": "abandonment_rate",
    "transfer_rate": "transfer_rate",
    "csat_mean": "csat_mean",
    "first_contact_resolution": "first_contact_resolution",
}


def row(rows: list[MeasureRow], queue: str, channel: Channel | None, window: str) -> MeasureRow:
    found = [x for x in rows if (x.queue_id, x.channel, x.window) == (queue, channel, window)]
    assert len(found) == 1, (queue, channel, window, rows)
    return found[0]


def check(r: MeasureRow, expected: dict[str, Any]) -> None:
    m = measures(r.tally)
    for key, value in expected.items():
        got = m[NAMES[key]] if key in NAMES else getattr(r.tally, key)
        assert got == pytest.approx(value), (r.queue_id, r.channel, key)


async def day() -> Harness:
    h = Harness(POLICY)
    await h.start()
    await play_day(h)
    return h


def test_a_scripted_day_per_queue_per_channel_and_for_the_tenant() -> None:
    async def body() -> None:
        h = await day()
        s = await reports.stats(h.router())
        rows = s["measures"]
        check(row(rows, "sales", Channel.VOICE, "today"), SALES_VOICE)
        check(row(rows, "sales", None, "today"), SALES_VOICE)
        check(row(rows, "", Channel.VOICE, "today"), SALES_VOICE)
        check(row(rows, "support", Channel.CHAT, "today"), SUPPORT_CHAT)
        check(row(rows, "", Channel.CHAT, "today"), SUPPORT_CHAT)
        check(row(rows, "", None, "today"), TENANT)
        assert s["service_level"] == pytest.approx(TENANT["service_level"])
        # "today" starts at midnight in New York, not in UTC.
        assert row(rows, "", None, "today").since == MIDNIGHT
        # Nothing in the last 15 minutes: the tenant's row, with nothing measured.
        recent = [x for x in rows if x.window == "15m"]
        assert [(x.queue_id, x.channel) for x in recent] == [("", None)]
        assert all(v is None for v in measures(recent[0].tally).values())
        assert recent[0].tally.offered == 0

    run(body)


def test_one_queue_only() -> None:
    async def body() -> None:
        h = await day()
        rows = (await reports.stats(h.router(), "support"))["measures"]
        assert {x.queue_id for x in rows} == {"support"}
        check(row(rows, "support", None, "today"), SUPPORT_CHAT)
        # A queue that exists but saw nothing: its two rows, counts zero, measures absent.
        quiet = (await reports.stats(h.router(), "default"))["measures"]
        assert [(x.queue_id, x.window, x.tally.offered) for x in quiet] == [
            ("default", "15m", 0),
            ("default", "today", 0),
        ]
        assert all(v is None for x in quiet for v in measures(x.tally).values())
        with pytest.raises(NotFound):
            await reports.stats(h.router(), "nowhere")

    run(body)


def test_a_restart_keeps_todays_figures() -> None:
    async def body() -> None:
        h = await day()
        again = await h.restart()
        rows = (await reports.stats(again.router()))["measures"]
        check(row(rows, "sales", Channel.VOICE, "today"), SALES_VOICE)
        check(row(rows, "support", Channel.CHAT, "today"), SUPPORT_CHAT)
        check(row(rows, "", None, "today"), TENANT)

    run(body)


def test_the_fifteen_minute_window_slides_and_today_keeps_it() -> None:
    async def body() -> None:
        h = Harness(POLICY)
        h.clock.set(MIDNIGHT + 3600)
        await h.start()
        await h.agent("ann", state=AgentState.AVAILABLE)
        await h.enqueue("a", Channel.VOICE, queue_id="sales")
        await h.accept("a", "ann")  # at once: within the target
        await h.advance(10 * 60)
        await h.enqueue("b", Channel.VOICE, queue_id="sales")
        await h.advance(30)
        await h.cancel("b")

        def recent(rows: list[MeasureRow]) -> MeasureRow:
            return row(rows, "sales", Channel.VOICE, "15m")

        rows = (await reports.stats(h.router()))["measures"]
        assert (recent(rows).tally.offered, recent(rows).tally.abandoned) == (2, 1)
        assert measures(recent(rows).tally)["service_level"] == 0.5
        await h.advance(6 * 60)  # "a" is 16 minutes old: out of the window
        rows = (await reports.stats(h.router()))["measures"]
        assert (recent(rows).tally.offered, recent(rows).tally.answered) == (1, 0)
        assert measures(recent(rows).tally)["service_level"] == 0.0
        today = row(rows, "sales", Channel.VOICE, "today")
        assert (today.tally.offered, today.tally.answered) == (2, 1)
        assert measures(today.tally)["service_level"] == 0.5
        await h.advance(20 * 60)
        rows = (await reports.stats(h.router()))["measures"]
        assert [x.queue_id for x in rows if x.window == "15m"] == [""]

    run(body)


def test_waiting_and_occupancy_are_now() -> None:
    async def body() -> None:
        h = Harness(POLICY)
        await h.start()
        await h.agent("ann", state=AgentState.AVAILABLE, capacity={Channel.CHAT: 2})
        await h.enqueue("a", Channel.CHAT, queue_id="support")
        await h.accept("a", "ann")
        await h.set_state("ann", AgentState.NOT_READY)
        await h.enqueue("b", Channel.VOICE, queue_id="sales")
        await h.advance(42)
        rows = (await reports.stats(h.router()))["measures"]
        waiting = row(rows, "sales", Channel.VOICE, "today")
        assert (waiting.waiting, waiting.longest_wait) == (1, 42.0)
        assert row(rows, "", None, "15m").waiting == 1
        chat = row(rows, "support", Channel.CHAT, "15m")
        assert chat.occupancy == pytest.approx(1 / 2) and chat.waiting == 0
        # Over every channel: 1 seat in use of 2 (chat) + 1 (voice) + defaults.
        overall = row(rows, "", None, "15m").occupancy
        assert overall is not None and 0 < overall < 0.5

    run(body)


def test_nothing_yet_measures_nothing() -> None:
    async def body() -> None:
        h = Harness(POLICY)
        await h.start()
        await h.agent("ann")
        s = await reports.stats(h.router())
        assert s["service_level"] is None
        assert all(v is None for v in measures(s["measures"][0].tally).values())
        assert not math.isnan(s["measures"][0].since)

    run(body)


def test_a_later_score_replaces_the_first_and_short_abandons_follow_the_policy() -> None:
    async def body() -> None:
        policy = Policy(time_zone="UTC", short_abandon_seconds=10.0)
        h = Harness(policy)
        await h.start()
        await h.agent("ann", state=AgentState.AVAILABLE)
        await h.enqueue("a", Channel.VOICE)
        await h.accept("a", "ann")
        await h.advance(60)
        await h.complete("a", "ann", 2)
        await h.advance(10)
        await h.complete("a", "ann", 5)  # during wrap-up: ends it early, with a new score
        await h.set_state("ann", AgentState.NOT_READY)
        await h.enqueue("b", Channel.VOICE)
        await h.advance(9)
        await h.cancel("b")  # under the policy's 10 s: short
        await h.enqueue("c", Channel.VOICE)
        await h.advance(10)
        await h.cancel("c")  # not under it
        t = row((await reports.stats(h.router()))["measures"], "default", Channel.VOICE, "15m")
        assert (t.tally.csat_count, t.tally.csat_sum) == (1, 5)
        assert t.tally.wrap_seconds == 10.0 and t.tally.handle_seconds == 60.0
        assert (t.tally.abandoned, t.tally.short_abandoned) == (2, 1)
        assert measures(t.tally)["service_level"] == 0.5  # 1 / (1 + 2 - 1)

    run(body)
