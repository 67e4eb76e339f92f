"""The scripted day's measures (tests/tenant/measures_day.py) over gRPC and on /metrics of
a live server: the day is played on the tenant's own code over a real Redis, then a server
starts on that Redis, loads the day back and answers GetStats and scrapes with it."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from prometheus_client import CollectorRegistry

from cim_router._pb import router_pb2 as pb
from cim_router.observability import Observer, ObserverSettings
from cim_router.store import RedisSettings, RedisStore
from tests.observability.conftest import Scrape, scrape
from tests.redis_server import drop_prefix, redis_url, unique_prefix
from tests.service.conftest import Client, Running, start_server, wait_for
from tests.tenant.harness import TENANT, Harness
from tests.tenant.measures_day import (
    END,
    MIDNIGHT,
    POLICY,
    SALES_VOICE,
    SUPPORT_CHAT,
    play_day,
)
from tests.tenant.measures_day import (
    TENANT as TENANT_DAY,
)

ROUTER = "cim_router.v1.Router/"


async def _play(settings: RedisSettings) -> None:
    h = Harness(POLICY, RedisStore(settings))
    await h.start()
    await play_day(h)
    await h.tenants.stop()
    await h.store.close()


@pytest.fixture(scope="module")
def after_day() -> Iterator[tuple[Running, Client, Scrape]]:
    settings = RedisSettings.from_url(redis_url(), prefix=unique_prefix())
    asyncio.run(_play(settings))
    observer = Observer(CollectorRegistry(), POLICY, ObserverSettings(max_queue_labels=1))
    running = start_server(
        POLICY, settings, observer=observer, metrics_port=0, clock=lambda: END + 60
    )
    try:
        metrics = running.server.metrics
        assert metrics is not None
        yield running, running.client(TENANT), scrape(metrics.url)
    finally:
        running.stop()
        drop_prefix(settings.prefix)


def _row(stats: pb.Stats, queue: str, channel: Any, window: str) -> pb.Measures:
    found = [
        m for m in stats.measures if (m.queue_id, m.channel, m.window) == (queue, channel, window)
    ]
    assert len(found) == 1, (queue, channel, window)
    return found[0]


def _check(m: pb.Measures, expected: dict[str, float]) -> None:
    fields = pb.Measures.DESCRIPTOR.fields_by_name
    for name, value in expected.items():
        assert not fields[name].has_presence or m.HasField(name), name  # type: ignore[arg-type]
        assert getattr(m, name) == pytest.approx(value), name


def test_get_stats_answers_the_days_figures_after_a_restart(
    after_day: tuple[Running, Client, Scrape],
) -> None:
    _, client, _ = after_day
    s = client.GetStats(pb.GetStatsRequest())
    _check(_row(s, "sales", pb.CHANNEL_VOICE, "today"), SALES_VOICE)
    _check(_row(s, "support", pb.CHANNEL_CHAT, "today"), SUPPORT_CHAT)
    _check(_row(s, "", pb.CHANNEL_UNSPECIFIED, "today"), TENANT_DAY)
    _check(_row(s, "", pb.CHANNEL_VOICE, "today"), SALES_VOICE)
    _check(_row(s, "support", pb.CHANNEL_UNSPECIFIED, "today"), SUPPORT_CHAT)
    assert _row(s, "", pb.CHANNEL_UNSPECIFIED, "today").since.ToSeconds() == MIDNIGHT
    assert s.service_level == pytest.approx(TENANT_DAY["service_level"])
    # Nothing in the last 15 minutes: one row, every measure absent, not perfect.
    recent = [m for m in s.measures if m.window == "15m"]
    assert len(recent) == 1 and recent[0].offered == 0
    assert not recent[0].HasField("service_level")
    assert not recent[0].HasField("first_contact_resolution")
    # Occupancy is now: both agents are NOT_READY, holding nothing.
    assert _row(s, "", pb.CHANNEL_UNSPECIFIED, "today").occupancy == 0.0


def test_get_stats_of_one_queue(after_day: tuple[Running, Client, Scrape]) -> None:
    _, client, _ = after_day
    s = client.GetStats(pb.GetStatsRequest(queue_id="support"))
    assert {m.queue_id for m in s.measures} == {"support"}
    _check(_row(s, "support", pb.CHANNEL_CHAT, "today"), SUPPORT_CHAT)
    quiet = client.GetStats(pb.GetStatsRequest(queue_id="default"))
    assert [(m.queue_id, m.window, m.offered) for m in quiet.measures] == [
        ("default", "15m", 0),
        ("default", "today", 0),
    ]
    assert not any(m.HasField("service_level") for m in quiet.measures)
    with pytest.raises(grpc.RpcError) as missing:
        client.GetStats(pb.GetStatsRequest(queue_id="nowhere"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert "nowhere" in (missing.value.details() or "")
    with pytest.raises(grpc.RpcError) as err:
        client.GetStats(pb.GetStatsRequest(queue_id="x" * 200))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_metrics_report_the_same_measures_with_the_queue_label_bounded(
    after_day: tuple[Running, Client, Scrape],
) -> None:
    _, _, metrics = after_day
    today = {"tenant": TENANT, "window": "today"}
    # One queue label per tenant here: "sales" (first by name) keeps its own, the rest is
    # "other", measured from its summed counts.
    queues = {s.labels["queue"] for s in metrics.samples if "queue" in s.labels}
    assert queues == {"sales", "other"}
    sales = {**today, "queue": "sales", "channel": "voice"}
    other = {**today, "queue": "other", "channel": "chat"}
    for name, metric in (
        ("service_level", "cim_router_queue_service_level_ratio"),
        ("asa_seconds", "cim_router_queue_average_speed_of_answer_seconds"),
        ("aht_seconds", "cim_router_queue_average_handle_time_seconds"),
        ("abandonment_rate", "cim_router_queue_abandonment_ratio"),
        ("transfer_rate", "cim_router_queue_transfer_ratio"),
        ("csat_mean", "cim_router_queue_csat_mean"),
        ("first_contact_resolution", "cim_router_queue_first_contact_resolution_ratio"),
    ):
        assert metrics.value(metric, **sales) == pytest.approx(SALES_VOICE[name]), name
        assert metrics.value(metric, **other) == pytest.approx(SUPPORT_CHAT[name]), name
    assert metrics.value("cim_router_queue_offered", **sales) == 4
    # Nothing in the last 15 minutes: no ratio sample at all for the window.
    assert not metrics.has("cim_router_queue_service_level_ratio", window="15m")
    assert not metrics.has("cim_router_service_level_ratio", tenant=TENANT)


def test_known_series_exist_at_zero_from_the_start(
    after_day: tuple[Running, Client, Scrape],
) -> None:
    _, _, metrics = after_day
    for name in ("cim_router_offers_rejected_total", "cim_router_offers_expired_total"):
        for channel in ("voice", "sms", "email"):
            assert metrics.has(name, tenant=TENANT, channel=channel), (name, channel)
            assert metrics.value(name, tenant=TENANT, channel=channel) == 0
    assert metrics.has("cim_router_interactions_abandoned_short_total", tenant=TENANT)
    for code in ("INVALID_ARGUMENT", "NOT_FOUND", "UNAVAILABLE"):
        labels = {"method": ROUTER + "Enqueue", "code": code}
        assert metrics.has("cim_router_grpc_requests_total", **labels), code
        assert metrics.value("cim_router_grpc_requests_total", **labels) == 0
    for op in ("commit", "load", "read"):
        assert metrics.has("cim_router_redis_errors_total", op=op)
        assert metrics.value("cim_router_redis_errors_total", op=op) == 0
    assert not math.isnan(metrics.value("cim_router_redis_errors_total"))


def test_a_live_servers_own_events_reach_the_measures(client: Client) -> None:
    """Counted by the server as calls arrive: an answer within target with a score, two
    hang-ups within seconds (short abandons), and the same customer back (a repeat)."""
    chat_one = [pb.ChannelCount(channel=pb.CHANNEL_CHAT, count=1)]
    client.agent("a1", capacity=chat_one)
    assert client.enqueue("i1", customer_id="cust").interaction.offer.agent_id == "a1"
    client.Accept(pb.AcceptRequest(interaction_id="i1", agent_id="a1"))
    client.Complete(pb.CompleteRequest(interaction_id="i1", agent_id="a1", csat=4))
    wait_for(lambda: client.get("i1").state == pb.INTERACTION_STATE_COMPLETED, what="wrap-up")
    client.SetAgentState(pb.SetAgentStateRequest(agent_id="a1", state=pb.AGENT_STATE_NOT_READY))
    client.enqueue("i2")
    client.Cancel(pb.CancelRequest(interaction_id="i2"))
    client.enqueue("i3", customer_id="cust")
    client.Cancel(pb.CancelRequest(interaction_id="i3"))
    s = client.GetStats(pb.GetStatsRequest(queue_id="default"))
    m = _row(s, "default", pb.CHANNEL_CHAT, "15m")
    assert (m.offered, m.answered, m.answered_in_sla, m.handled, m.csat_count) == (3, 1, 1, 1, 1)
    assert (m.abandoned, m.short_abandoned, m.transferred) == (2, 2, 0)
    assert (m.service_level, m.csat_mean, m.first_contact_resolution) == (1.0, 4.0, 0.5)
    assert m.abandonment_rate == 0.0 and m.aht_seconds > 0
    assert _row(s, "default", pb.CHANNEL_CHAT, "today").offered == 3
