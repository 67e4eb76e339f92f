"""Agent and customer behaviours of the load generator: the same seed gives the same
workload, and against a real router (with its metrics) each behaviour shows in what the
router counted: rejected and expired offers, CSAT scores, repeat contacts, queues."""

from __future__ import annotations

import asyncio
import math
import statistics
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from cim_router._pb import router_pb2 as pb
from cim_router.cli import parser
from cim_router.client import RouterClient
from cim_router.domain.channel import Channel
from cim_router.loadgen import LoadConfig, format_report, run_load
from cim_router.loadgen.command import config_from
from cim_router.loadgen.config import parse_queues
from cim_router.loadgen.workload import Choice, Workload
from cim_router.observability import Observer, ObserverSettings
from tests.loadgen.test_runs import check_consistent
from tests.observability.conftest import Scrape, scrape
from tests.redis_server import drop_prefix
from tests.service.conftest import Running, fast_policy, start_server

OFFER_TIMEOUT = 1.0  # long enough for an Accept on a busy machine


@dataclass
class Observed:
    running: Running

    @property
    def target(self) -> str:
        return self.running.server.address

    def scrape(self) -> Scrape:
        metrics = self.running.server.metrics
        assert metrics is not None
        return scrape(metrics.url)


@pytest.fixture(scope="module")
def observed() -> Iterator[Observed]:
    """A router with metrics whose offers expire quickly and whose agents go NOT_READY
    after two missed offers in a row; no wrap-up."""
    policy = fast_policy(
        offer_timeout_seconds=OFFER_TIMEOUT,
        max_missed_offers=2,
        wrap_up_seconds=dict.fromkeys(Channel, 0.0),
    )
    observer = Observer(CollectorRegistry(), policy, ObserverSettings())
    running = start_server(policy, observer=observer, metrics_port=0)
    try:
        yield Observed(running)
    finally:
        running.stop()
        drop_prefix(running.settings.prefix)


def load(target: str, **kw: Any) -> dict[str, Any]:
    kw.setdefault("progress", False)
    report: dict[str, Any] = asyncio.run(run_load(LoadConfig(target=target, **kw)))
    return report


# --- the workload, without a server -----------------------------------------------------------

BEHAVING = {
    "reject_probability": 0.2,
    "no_answer_probability": 0.1,
    "csat": True,
    "csat_mean": 4.2,
    "returning_customers": 0.25,
    "queues": {"sales": 0.6, "support": 0.4},
    "abandon_probability": 0.5,
}


def test_the_same_seed_gives_the_same_workload() -> None:
    def draw(seed: int) -> tuple[list[Any], list[list[Choice]], list[float]]:
        w = Workload(LoadConfig(seed=seed, agents=5, **BEHAVING))  # type: ignore[arg-type]
        w.agents()
        specs = [w.interaction(n) for n in range(300)]
        answers = []
        for spec in specs[:50]:
            offers = w.offers(spec)
            answers.append([offers.next() for _ in range(5)])
        arrivals = [w.arrival_rng.random() for _ in range(5)]
        return specs, answers, arrivals

    assert draw(7) == draw(7)
    assert draw(7)[0] != draw(8)[0]
    assert draw(7)[1] != draw(8)[1]


def test_behaviours_draw_with_the_configured_chances() -> None:
    w = Workload(LoadConfig(seed=3, **BEHAVING))  # type: ignore[arg-type]
    specs = [w.interaction(n) for n in range(20_000)]
    scores = [s.csat for s in specs]
    assert set(scores) == {1, 2, 3, 4, 5}
    assert statistics.fmean(scores) == pytest.approx(4.2, abs=0.03)
    queues = Counter(s.queue_id for s in specs)
    assert set(queues) == {"sales", "support"}
    assert queues["sales"] / len(specs) == pytest.approx(0.6, abs=0.02)
    returning = [s for s in specs if s.returning]
    assert len(returning) / len(specs) == pytest.approx(0.25, abs=0.02)
    first = {s.customer_id for s in specs if not s.returning}
    assert len(first) == len(specs) - len(returning)  # a new customer is new
    assert all(s.customer_id in first for s in returning)  # a returning one was seen
    patient = sum(1 for s in specs if math.isinf(s.patience))
    assert patient / len(specs) == pytest.approx(0.5, abs=0.02)
    answers = Counter(w.offers(s).next() for s in specs)
    assert answers["reject"] / len(specs) == pytest.approx(0.2, abs=0.02)
    assert answers["no_answer"] / len(specs) == pytest.approx(0.1, abs=0.02)


def test_defaults_keep_every_behaviour_off() -> None:
    w = Workload(LoadConfig(seed=1))
    specs = [w.interaction(n) for n in range(2000)]
    assert all(s.csat == 0 and s.queue_id == "" and not s.returning for s in specs)
    assert all(math.isfinite(s.patience) for s in specs)
    assert {w.offers(s).next() for s in specs} == {"accept"}


def test_behaviour_settings_are_checked() -> None:
    for bad in (
        {"reject_probability": 0.7, "no_answer_probability": 0.4},
        {"reject_probability": -0.1},
        {"no_answer_probability": 1.5},
        {"csat_mean": 5.5},
        {"returning_customers": 2.0},
        {"abandon_probability": -1.0},
        {"queues": {"sales": 0.0}},
    ):
        with pytest.raises(ValueError):
            LoadConfig(**bad)
    assert parse_queues("sales=0.6, support=0.4") == {"sales": 0.6, "support": 0.4}
    assert parse_queues("vip") == {"vip": 1.0} and parse_queues("") == {}
    for bad_text in ("sales=x", "sales=-1", "sales=0", "a" * 129):
        with pytest.raises(ValueError):
            parse_queues(bad_text)


def test_the_cli_flags_reach_the_config() -> None:
    argv = [
        "loadgen",
        "--count",
        "5",
        "--reject-probability",
        "0.3",
        "--no-answer-probability",
        "0.2",
        "--csat",
        "--csat-mean",
        "3.5",
        "--returning-customers",
        "0.4",
        "--queues",
        "sales=0.6,support=0.4",
        "--abandon-probability",
        "0.5",
    ]
    cfg = config_from(parser().parse_args(argv))
    assert (cfg.reject_probability, cfg.no_answer_probability) == (0.3, 0.2)
    assert cfg.csat and cfg.csat_mean == 3.5
    assert cfg.returning_customers == 0.4 and cfg.abandon_probability == 0.5
    assert cfg.queues == {"sales": 0.6, "support": 0.4}
    plain = config_from(parser().parse_args(["loadgen", "--count", "5"]))
    assert plain.reject_probability == plain.no_answer_probability == 0.0
    assert not plain.csat and plain.queues == {} and plain.abandon_probability == 1.0
    with pytest.raises(SystemExit):
        parser().parse_args(["loadgen", "--reject-probability", "1.2"])


# --- against a router ------------------------------------------------------------------------


def counted(s: Scrape, name: str, tenant: str) -> float:
    """On chat only: the run's streams are probed with voice interactions of the tenant."""
    return s.value(name, tenant=tenant, channel="chat")


def test_each_behaviour_shows_in_the_routers_counts(observed: Observed) -> None:
    r = load(
        observed.target,
        rate=60,
        count=80,
        duration=None,
        agents=12,
        skills=2,
        channels={"chat": 1.0},
        handle_mean=0.05,
        abandon_probability=0.0,  # nobody hangs up: every offer left alone expires
        reject_probability=0.25,
        no_answer_probability=0.15,
        csat=True,
        csat_mean=4.0,
        returning_customers=0.3,
        queues={"sales": 0.6, "support": 0.4},
        grace=20.0,
        seed=21,
    )
    check_consistent(r)
    b = r["behaviour"]
    t = r["tenant"]
    assert r["drained"] and r["errors"] == {}, r["errors"]
    assert r["enqueued"] == 80 and r["completed"] == 80 and r["abandoned"] == 0
    s = observed.scrape()
    # Every Reject the router took is one rejected offer; every offer left alone expired.
    assert b["rejects_sent"] > 0
    assert counted(s, "cim_router_offers_rejected_total", t) == b["rejects_sent"]
    assert r["latency_ms"]["rpc"]["Reject"]["count"] == b["rejects_sent"]
    assert b["offers_left_to_expire"] > 0
    assert counted(s, "cim_router_offers_expired_total", t) == b["offers_left_to_expire"]
    assert 0 <= b["agents_made_ready_again"] <= b["offers_left_to_expire"]
    offers = counted(s, "cim_router_offers_total", t)
    assert offers == 80 + b["rejects_sent"] + b["offers_left_to_expire"]
    # A score at every Complete, as the router's histogram saw them.
    scores = {int(k): n for k, n in b["csat_scores"].items()}
    assert b["csat_given"] == 80 == sum(scores.values())
    assert counted(s, "cim_router_csat_score_count", t) == 80
    assert counted(s, "cim_router_csat_score_sum", t) == sum(k * n for k, n in scores.items())
    assert 1.0 <= b["csat_mean"] <= 5.0
    # Returning customers: the router links them; those served before come back as repeats.
    assert b["returning_customers"] > 0
    repeats = counted(s, "cim_router_repeat_contacts_total", t)
    assert 1 <= repeats <= b["returning_customers"]
    # The router serves UpsertQueue: the run creates its queues first.
    q = b["queues"]
    assert q["created"] is True
    assert set(q["enqueued"]) == {"sales", "support"}
    assert sum(q["enqueued"].values()) == 80 and min(q["enqueued"].values()) > 0
    # The table says the same.
    table = format_report(r).splitlines()
    assert f"agents     rejects sent {b['rejects_sent']}, offers left to expire " in "\n".join(
        table
    )
    assert f"customers  returning {b['returning_customers']}, CSAT given 80 " in "\n".join(table)
    sales, support = q["enqueued"]["sales"], q["enqueued"]["support"]
    assert f"queues     enqueued sales {sales}, support {support}" in table
    assert not any(
        line.startswith("queues     the router does not serve UpsertQueue") for line in table
    )
    # GetStats of the tenant agrees (its counts include the stream probes, on voice).
    with RouterClient(observed.target, tenant=t) as client:
        stats = client.stats()
    assert stats.offered >= offers
    assert stats.answered == stats.completed == 80
    # ... and so do its queues: what entered each today is what the run enqueued there.
    entered = {
        m.queue_id: m.offered
        for m in stats.measures
        if m.window == "today" and m.channel == pb.CHANNEL_UNSPECIFIED and m.queue_id
    }
    assert {k: entered.get(k) for k in q["enqueued"]} == q["enqueued"]


def test_without_behaviours_nothing_is_rejected_expired_or_rated(observed: Observed) -> None:
    r = load(
        observed.target,
        rate=60,
        count=40,
        duration=None,
        agents=10,
        skills=2,
        channels={"chat": 1.0},
        handle_mean=0.05,
        patience_mean=60,
        seed=22,
    )
    check_consistent(r)
    b, t = r["behaviour"], r["tenant"]
    assert r["drained"] and r["completed"] == r["answered"] == 40
    assert b["rejects_sent"] == b["offers_left_to_expire"] == b["csat_given"] == 0
    assert b["returning_customers"] == 0 and b["queues"]["created"] is None
    s = observed.scrape()
    assert counted(s, "cim_router_offers_total", t) == 40
    assert counted(s, "cim_router_offers_accepted_total", t) == 40
    for name in (
        "cim_router_offers_rejected_total",
        "cim_router_offers_expired_total",
        "cim_router_csat_score_count",
        "cim_router_repeat_contacts_total",
    ):
        assert counted(s, name, t) == 0, name


def test_only_the_customers_drawn_to_hang_up_abandon(observed: Observed) -> None:
    settings: dict[str, Any] = {
        "rate": 200,
        "count": 40,
        "duration": None,
        "agents": 0,
        "channels": {"chat": 1.0},
        "patience_mean": 0.05,
        "abandon_probability": 0.5,
        "grace": 1.0,
        "seed": 23,
    }
    r = load(observed.target, **settings)
    check_consistent(r)
    # The same seed draws the same customers: replayed here, without a router.
    w = Workload(LoadConfig(**settings))
    w.agents()
    hang_up = sum(1 for n in range(40) if math.isfinite(w.interaction(n).patience))
    assert 0 < hang_up < 40
    assert r["abandoned"] == hang_up
    assert r["waiting"] == 40 - hang_up and not r["drained"]
    abandoned = counted(observed.scrape(), "cim_router_interactions_abandoned_total", r["tenant"])
    assert abandoned == hang_up
