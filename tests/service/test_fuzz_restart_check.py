"""The fuzz suite's last check reads every tenant before a restart and again after it,
with a minute or more between the two reads of a tenant when there are many: the
15-minute window may move on in between, and the counts of its oldest minute leave every
15-minute row (a row with nothing else goes). That is no difference (`Snap.same_later`),
while a count the restart lost, or one that came from nowhere, still is. On a live server,
a real Redis and a manual clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from cim_router._pb import router_pb2 as pb
from cim_router.store.keys import Keys
from cim_router.tenant.tallies import bucket_of
from tests.redis_server import redis_url
from tests.service.conftest import Client
from tests.service.fuzz_checks import POLICY, Snap
from tests.service.manual_clock import MONDAY_8, Server, manual_server
from tests.service.steady import measures_differ, steady, window_starts

IDS = ("sms-1", "sms-2")


@pytest.fixture
def server() -> Iterator[Server]:
    yield from manual_server(POLICY)


def snap(c: Client) -> Snap:
    """The tenant as the fuzz suite reads it (tests/service/fuzz_world.py `snapshot`)."""
    agents = {a.id: a for a in c.ListAgents(pb.ListAgentsRequest()).agents}
    found: dict[str, pb.Interaction | None] = {i: c.get(i) for i in IDS}
    stats = c.GetStats(pb.GetStatsRequest())
    starts = window_starts(stats)
    steady(stats)
    queues = {s.queue.id: s.queue for s in c.ListQueues(pb.ListQueuesRequest()).queues}
    return Snap(agents, found, stats, queues, starts)


def rows(s: Snap, window: str) -> dict[tuple[str, int], pb.Measures]:
    return {(m.queue_id, m.channel): m for m in s.stats.measures if m.window == window}


def handled_a_minute_later(server: Server) -> None:
    """Two SMS (no wrap-up) answered at 08:00, completed with a score at 08:01: the shape
    the fuzz found, a 15-minute row of only the handled and their scores from 08:15 on."""
    c = server.client
    c.agent("ann")
    for iid in IDS:
        c.enqueue(iid, channel=pb.CHANNEL_SMS)
        c.Accept(pb.AcceptRequest(interaction_id=iid, agent_id="ann"))
    server.advance(60.0)
    for iid in IDS:
        c.Complete(pb.CompleteRequest(interaction_id=iid, csat=4))
    server.advance(14 * 60.0 + 30)  # 08:15:30: the window is 08:01 to 08:15


def test_a_15_minute_window_that_moves_on_across_a_restart_is_no_difference(
    server: Server,
) -> None:
    handled_a_minute_later(server)
    before = snap(server.client)
    sms = rows(before, "15m")[("", pb.CHANNEL_SMS)]
    assert (sms.offered, sms.handled, sms.csat_count) == (0, 2, 2)
    server.restart()
    server.advance(30.0)  # 08:16: 08:01 has left the window
    after = snap(server.client)
    assert ("", pb.CHANNEL_SMS) not in rows(after, "15m")
    assert rows(after, "15m")[("", 0)].handled == 0
    assert not before.same(after)  # what the check asked for, and the fuzz failed on
    assert before.same_later(after), before.why_not_same_later(after)
    # Nothing left the day: every count came back from Redis.
    assert rows(before, "today") == rows(after, "today")
    assert rows(after, "today")[("", 0)].csat_count == 2


def test_a_count_lost_by_the_restart_is_still_a_difference(server: Server) -> None:
    handled_a_minute_later(server)
    before = snap(server.client)
    # 08:01's counts (the completions and their scores) go missing from Redis.
    db = redis.Redis.from_url(redis_url())
    try:
        key = Keys(server.running.settings.prefix).tallies("default", bucket_of(MONDAY_8 + 60))
        assert db.delete(key) == 1
    finally:
        db.close()
    server.restart()
    server.advance(30.0)
    after = snap(server.client)
    assert not before.same_later(after)
    assert "today" in (before.why_not_same_later(after) or "")


def test_in_a_window_that_moved_on_a_count_may_only_go(server: Server) -> None:
    handled_a_minute_later(server)
    before = snap(server.client)
    server.restart()
    server.advance(30.0)
    after = snap(server.client)
    assert measures_differ(before.stats, after.stats, {"15m"}) is None
    grown = pb.Stats()
    grown.CopyFrom(after.stats)
    tenant_15m = next(
        m for m in grown.measures if (m.queue_id, m.channel, m.window) == ("", 0, "15m")
    )
    tenant_15m.handled = 3  # more than the 2 it had
    assert "handled grew" in (measures_differ(before.stats, grown, {"15m"}) or "")
    tenant_15m.handled = 0
    tenant_15m.waiting = 1  # what is now does not move with a window
    assert "waiting" in (measures_differ(before.stats, grown, {"15m"}) or "")
    # Unmoved, a window reads back exactly.
    assert measures_differ(before.stats, after.stats, set()) is not None
