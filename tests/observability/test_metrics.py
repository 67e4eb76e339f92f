"""/metrics after a scripted journey over real gRPC: every count is what happened."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import grpc
import pytest

from cim_router._pb import router_pb2 as pb
from tests.observability.conftest import Observed, Scrape, scrape, start_observed
from tests.observability.journey import run_journey
from tests.service.conftest import fast_policy, start_server, wait_for

ROUTER = "cim_router.v1.Router/"
ROUTER_PATH = "/" + ROUTER


@pytest.fixture(scope="module")
def after_journey() -> Iterator[tuple[Scrape, dict[str, float]]]:
    """One journey for the module's read-only checks (it takes about a second)."""
    observed = start_observed()
    try:
        journey = run_journey(observed.running.client())
        yield observed.scrape(), journey.waits
    finally:
        observed.running.stop()


# (metric, channel) -> how many times it happened in the journey.
EXPECTED_COUNTS = {
    ("cim_router_interactions_enqueued_total", "chat"): 3,
    ("cim_router_interactions_enqueued_total", "voice"): 1,
    ("cim_router_offers_total", "chat"): 5,
    ("cim_router_offers_total", "voice"): 1,
    ("cim_router_offers_accepted_total", "chat"): 3,
    ("cim_router_offers_accepted_total", "voice"): 0,
    ("cim_router_offers_rejected_total", "chat"): 1,
    ("cim_router_offers_expired_total", "chat"): 1,
    ("cim_router_interactions_answered_total", "chat"): 2,
    ("cim_router_interactions_answered_within_sla_total", "chat"): 1,
    ("cim_router_interactions_completed_total", "chat"): 1,
    ("cim_router_interactions_cancelled_total", "chat"): 1,
    ("cim_router_interactions_abandoned_total", "chat"): 1,
    ("cim_router_transfers_total", "chat"): 1,
    ("cim_router_transfers_failed_total", "chat"): 0,
    ("cim_router_interactions_escalated_total", "voice"): 1,
    ("cim_router_interactions_escalated_total", "chat"): 0,
    # c4 (voice) repeats c1 (chat): the repeat counts against the contact not resolved.
    ("cim_router_repeat_contacts_total", "voice"): 0,
    ("cim_router_repeat_contacts_total", "chat"): 1,
    ("cim_router_wait_seconds_count", "chat"): 2,
    ("cim_router_handle_seconds_count", "chat"): 1,
    ("cim_router_csat_score_count", "chat"): 1,
    ("cim_router_csat_score_sum", "chat"): 4,
}


def test_event_counters_and_histogram_counts_match_the_journey(
    after_journey: tuple[Scrape, dict[str, float]],
) -> None:
    metrics, _ = after_journey
    found = {
        (name, channel): metrics.value(name, tenant="default", channel=channel)
        for name, channel in EXPECTED_COUNTS
    }
    assert found == EXPECTED_COUNTS


def test_waits_service_level_and_speed_of_answer(
    after_journey: tuple[Scrape, dict[str, float]],
) -> None:
    metrics, waits = after_journey
    total = waits["c1"] + waits["c2"]
    assert waits["c2"] > 0.3  # c2 was answered after its SLA target, c1 well within
    assert metrics.value("cim_router_wait_seconds_sum", channel="chat") == pytest.approx(
        total, abs=2e-3
    )
    assert metrics.value("cim_router_service_level_ratio", channel="chat") == 0.5
    assert metrics.value(
        "cim_router_average_speed_of_answer_seconds", channel="chat"
    ) == pytest.approx(total / 2, abs=1e-3)
    # No voice call was answered: no service level is reported for voice.
    assert not metrics.has("cim_router_service_level_ratio", channel="voice")
    # CSAT 4 lands in the bucket le=4, not le=3.
    assert metrics.value("cim_router_csat_score_bucket", channel="chat", le="3.0") == 0
    assert metrics.value("cim_router_csat_score_bucket", channel="chat", le="4.0") == 1


def test_decisions_are_timed_in_microsecond_buckets(
    after_journey: tuple[Scrape, dict[str, float]],
) -> None:
    metrics, _ = after_journey
    # Four offers came from routing decisions (the transfer named its agent), and c4's
    # escalation asked again and found nobody.
    assert metrics.value("cim_router_decision_seconds_count") >= 5
    assert metrics.has("cim_router_decision_seconds_bucket", le="1e-06")
    assert metrics.value("cim_router_decision_seconds_bucket", le="+Inf") == metrics.value(
        "cim_router_decision_seconds_count"
    )


def test_live_gauges_show_who_waits_and_who_is_busy(
    after_journey: tuple[Scrape, dict[str, float]],
) -> None:
    metrics, _ = after_journey
    assert metrics.value("cim_router_waiting_interactions", channel="voice") == 1
    assert metrics.value("cim_router_waiting_interactions", channel="chat") == 0
    assert metrics.value("cim_router_longest_wait_seconds", channel="voice") > 0
    assert metrics.value("cim_router_longest_wait_seconds", channel="chat") == 0
    # c4 needs billing (a configured skill label) and spanish (folded into "other").
    assert metrics.value("cim_router_waiting_interactions_by_skill", skill="billing") == 1
    assert metrics.value("cim_router_waiting_interactions_by_skill", skill="other") == 1
    assert not metrics.has("cim_router_waiting_interactions_by_skill", skill="spanish")
    assert metrics.value("cim_router_agents", state="available") == 3
    assert metrics.value("cim_router_agents", state="offline") == 0
    # Three agents with one chat slot each, cat holding c2; a voice slot each, all free.
    assert metrics.value("cim_router_capacity_staffed", channel="chat") == 3
    assert metrics.value("cim_router_capacity_busy", channel="chat") == 1
    assert metrics.value("cim_router_occupancy_ratio", channel="chat") == pytest.approx(1 / 3)
    assert metrics.value("cim_router_occupancy_ratio", channel="voice") == 0


def test_no_label_names_an_interaction_agent_or_customer(
    after_journey: tuple[Scrape, dict[str, float]],
) -> None:
    metrics, _ = after_journey
    values = {v for s in metrics.samples for v in s.labels.values()}
    assert not values & {"c1", "c2", "c3", "c4", "ann", "bob", "cat", "cust-1"}
    names = {k for s in metrics.samples for k in s.labels}
    assert names <= {
        *("tenant", "channel", "state", "skill", "method", "code", "op", "le"),
        *("queue", "window"),
    }


def test_rpcs_are_counted_by_method_and_code(observed: Observed) -> None:
    client = observed.running.client()
    client.agent("ann")
    failures: list[tuple[Callable[[], object], grpc.StatusCode]] = [
        (lambda: client.get("nobody"), grpc.StatusCode.NOT_FOUND),
        (lambda: client.enqueue(""), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda: client.enqueue("x" * 200), grpc.StatusCode.INVALID_ARGUMENT),
        (
            lambda: client.Accept(pb.AcceptRequest(interaction_id="nope", agent_id="ann")),
            grpc.StatusCode.NOT_FOUND,
        ),
    ]
    for call, code in failures:
        with pytest.raises(grpc.RpcError) as err:
            call()
        assert err.value.code() == code
    count = "cim_router_grpc_requests_total"
    # An aborted call's status reaches the client before the server's handler unwinds.
    wait_for(lambda: observed.scrape().value(count) == 5, what="every call to be counted")
    metrics = observed.scrape()
    assert metrics.value(count, method=ROUTER + "UpsertAgent", code="OK") == 1
    assert metrics.value(count, method=ROUTER + "GetInteraction", code="NOT_FOUND") == 1
    assert metrics.value(count, method=ROUTER + "Enqueue", code="INVALID_ARGUMENT") == 2
    assert metrics.value(count, method=ROUTER + "Enqueue", code="OK") == 0
    assert metrics.value(count, method=ROUTER + "Accept", code="NOT_FOUND") == 1
    duration = "cim_router_grpc_request_duration_seconds_count"
    assert metrics.value(duration, method=ROUTER + "Enqueue") == 2


def test_streams_are_counted_with_their_code(observed: Observed) -> None:
    client = observed.running.client()
    client.agent("ann")
    with pytest.raises(grpc.RpcError) as err:
        list(client.WatchAssignments(pb.WatchAssignmentsRequest(agent_ids=[""])))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    stream = client.WatchAssignments(pb.WatchAssignmentsRequest(agent_ids=["ann"]), timeout=30)
    got: list[pb.AssignmentEvent] = []
    reader = threading.Thread(target=lambda: got.append(next(stream)), daemon=True)
    reader.start()
    # The stream subscribes asynchronously: offer ann work until it sees some.
    for k in range(100):
        client.enqueue(f"i{k}")
        reader.join(0.1)
        if got:
            break
    assert got and got[0].agent_id == "ann"
    stream.cancel()
    watch = ROUTER + "WatchAssignments"
    count = "cim_router_grpc_requests_total"
    wait_for(
        lambda: observed.scrape().value(count, method=watch, code="CANCELLED") == 1,
        what="the cancelled stream to be counted",
    )
    wait_for(
        lambda: observed.scrape().value(count, method=watch, code="INVALID_ARGUMENT") == 1,
        what="the refused stream to be counted",
    )
    metrics = observed.scrape()
    assert metrics.value(count, method=watch) == 2


def test_undecodable_requests_are_counted_as_invalid_argument(observed: Observed) -> None:
    channel = grpc.insecure_channel(observed.running.server.address)
    observed.running.channels.append(channel)
    garbage = b"\x0a\x05ab"  # a string field cut short
    unary = channel.unary_unary(ROUTER_PATH + "Enqueue", None, None)
    stream = channel.unary_stream(ROUTER_PATH + "WatchAssignments", None, None)
    for call in (lambda: unary(garbage, timeout=5), lambda: list(stream(garbage, timeout=5))):
        with pytest.raises(grpc.RpcError) as err:
            call()
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    count = "cim_router_grpc_requests_total"
    for method in ("Enqueue", "WatchAssignments"):

        def counted(m: str = method) -> bool:
            return observed.scrape().value(count, method=ROUTER + m, code="INVALID_ARGUMENT") == 1

        wait_for(counted, what=f"the undecodable {method} call to be counted")


def test_redis_metrics_and_port_zero(observed: Observed) -> None:
    metrics = observed.running.server.metrics
    assert metrics is not None and metrics.port > 0
    before = observed.scrape()
    commits = before.value("cim_router_redis_roundtrip_seconds_count", op="commit")
    client = observed.running.client()
    for k in range(3):
        client.agent(f"redis-metrics-{k}")  # each answer waits for its durable write
    scraped = observed.scrape()
    after = scraped.value("cim_router_redis_roundtrip_seconds_count", op="commit")
    assert commits + 1 <= after <= commits + 3
    assert (
        scraped.value("cim_router_redis_roundtrip_seconds_bucket", op="commit", le="+Inf") == after
    )
    assert scraped.value("cim_router_redis_errors_total", op="commit") == 0
    assert scraped.types["cim_router_redis_errors"] == "counter"
    assert scraped.types["cim_router_redis_roundtrip_seconds"] == "histogram"


def test_metrics_skills_setting_names_the_skill_labels() -> None:
    """What `--metrics-skills` sets: those skills get their own label, the rest `other`."""
    running = start_server(fast_policy(), metrics_port=0, metrics_skills=frozenset({"billing"}))
    try:
        client = running.client()
        for k, skill in enumerate(["billing", "billing", "spanish"]):
            client.enqueue(f"i{k}", required_skills=[pb.SkillRequirement(skill=skill)])
        metrics = running.server.metrics
        assert metrics is not None
        scraped = scrape(metrics.url)
        name = "cim_router_waiting_interactions_by_skill"
        assert scraped.value(name, tenant="default", skill="billing") == 2
        assert scraped.value(name, tenant="default", skill="other") == 1
        assert not scraped.has(name, tenant="default", skill="spanish")
    finally:
        running.stop()
