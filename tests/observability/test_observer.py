"""The Observer's parts on their own: the answer window, live snapshots, label limits."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from cim_router.domain.agent import Agent, AgentState
from cim_router.domain.channel import Channel
from cim_router.domain.interaction import Interaction, InteractionState, SkillRequirement
from cim_router.observability import LiveSnapshot, Observer, ObserverSettings, live_snapshot
from cim_router.tenant.measures import Tally
from cim_router.tenant.records import (
    AgentRecord,
    Event,
    EventType,
    InteractionRecord,
    Transition,
)
from cim_router.tenant.windows import MeasureRow
from tests.observability.conftest import Scrape


def read(registry: CollectorRegistry) -> Scrape:
    families = list(text_string_to_metric_families(generate_latest(registry).decode()))
    return Scrape([s for f in families for s in f.samples], {f.name: f.type for f in families})


def _waiting(iid: str, channel: Channel, at: float, *skills: str) -> InteractionRecord:
    required = tuple(SkillRequirement(s, 1) for s in skills)
    return InteractionRecord(Interaction(iid, channel, enqueued_at=at, required=required))


def _agent(aid: str, state: AgentState, **load: int) -> AgentRecord:
    agent = Agent(aid, state=state)
    agent.load = {Channel[k.upper()]: n for k, n in load.items()}
    return AgentRecord(agent)


def test_live_snapshot_counts_waits_and_capacity() -> None:
    snap = live_snapshot(
        "acme",
        [
            _waiting("i1", Channel.CHAT, 90.0, "billing", "spanish"),
            _waiting("i2", Channel.CHAT, 95.0, "billing"),
            _waiting("i3", Channel.VOICE, 99.0),
        ],
        [
            _agent("a", AgentState.AVAILABLE, chat=2),
            _agent("b", AgentState.NOT_READY, voice=1),
            _agent("c", AgentState.OFFLINE),
        ],
        now=100.0,
    )
    assert snap.waiting_by_channel == {Channel.CHAT: 2, Channel.VOICE: 1}
    assert snap.waiting_by_skill == {"billing": 2, "spanish": 1}
    assert snap.longest_wait_by_channel == {Channel.CHAT: 10.0, Channel.VOICE: 1.0}
    assert snap.agents_by_state == {
        AgentState.AVAILABLE: 1,
        AgentState.NOT_READY: 1,
        AgentState.OFFLINE: 1,
    }
    # Default capacity (chat 3, voice 1) of the two logged-in agents; OFFLINE c not counted.
    assert snap.staffed_capacity[Channel.CHAT] == 6 and snap.staffed_capacity[Channel.VOICE] == 2
    assert snap.busy_capacity == {Channel.CHAT: 2, Channel.VOICE: 1}


def test_tenants_beyond_the_limit_share_one_label_and_are_summed() -> None:
    registry = CollectorRegistry()
    observer = Observer(registry, lambda _: 20.0, ObserverSettings(max_tenant_labels=2))
    snaps = [
        LiveSnapshot(t, 0.0, waiting_by_channel={Channel.SMS: n})
        for t, n in (("t1", 1), ("t2", 2), ("t3", 3), ("t4", 4))
    ]
    observer.set_snapshot_source(lambda: snaps)
    metrics = read(registry)
    by_tenant = {
        s.labels["tenant"]: s.value
        for s in metrics.samples
        if s.name == "cim_router_waiting_interactions" and s.labels["channel"] == "sms"
    }
    assert by_tenant == {"t1": 1, "t2": 2, "_other": 7}


def test_a_failing_snapshot_source_is_counted_and_the_rest_still_served() -> None:
    registry = CollectorRegistry()
    observer = Observer(registry, lambda _: 20.0)

    def broken() -> list[LiveSnapshot]:
        raise ConnectionError("redis is down")

    observer.set_snapshot_source(broken)
    observer.decision(3e-6)
    metrics = read(registry)
    assert metrics.value("cim_router_live_snapshot_errors_total") == 1
    assert metrics.value("cim_router_decision_seconds_count") == 1
    assert not metrics.has("cim_router_waiting_interactions")


def test_the_measure_counters_count_the_tallies_each_transition_stores() -> None:
    registry = CollectorRegistry()
    observer = Observer(registry, lambda _: 20.0)
    t = Transition()
    t.tally(1, "sales|sms|answered", 2)
    t.tally(1, "sales|sms|answered_in_sla", 1)
    t.tally(1, "support|sms|repeats", 1)
    t.tally(2, "support|sms|abandoned", 1)
    t.tally(2, "support|sms|short_abandoned", 1)
    t.tally(2, "support|sms|wait_seconds", 12.5)  # a sum, not a counter
    t.tally(2, "nonsense", 1)
    observer.transition("t", t, 100.0)
    metrics = read(registry)
    assert metrics.value("cim_router_interactions_answered_total", channel="sms") == 2
    assert metrics.value("cim_router_interactions_answered_within_sla_total", channel="sms") == 1
    assert metrics.value("cim_router_repeat_contacts_total", channel="sms") == 1
    assert metrics.value("cim_router_interactions_abandoned_total", channel="sms") == 1
    assert metrics.value("cim_router_interactions_abandoned_short_total", channel="sms") == 1
    # The tenant's first transition made its series: 0 on the other channels.
    assert metrics.has("cim_router_repeat_contacts_total", tenant="t", channel="voice")
    assert metrics.value("cim_router_repeat_contacts_total", channel="voice") == 0


def test_a_broken_transition_never_reaches_the_caller() -> None:
    registry = CollectorRegistry()
    observer = Observer(registry, lambda _: 20.0)
    rec = _waiting("i1", Channel.CHAT, 0.0)
    rec.interaction.state = InteractionState.ASSIGNED
    rec.assigned_at = 5.0
    t = Transition(interactions=[rec], counters={"answered": 1})
    t.events.append(Event(5.0, EventType.ACCEPTED, "i1", Channel.CHAT, "ann"))
    t.tally(0, "default|chat|answered_in_sla", 1)
    broken = Transition()
    broken.tally(0, "default|chat|answered", -1)  # a counter cannot go down
    observer.transition("t", broken, 5.0)  # logged, not raised
    observer.transition("t", t, 5.0)
    metrics = read(registry)
    assert metrics.value("cim_router_wait_seconds_sum", channel="chat") == 5.0
    assert metrics.value("cim_router_interactions_answered_within_sla_total") == 1


def _row(queue: str, channel: Channel, window: str, **counts: int) -> MeasureRow:
    return MeasureRow(queue, channel, window, 0.0, Tally(**counts))


def test_queues_beyond_the_limit_are_measured_together_as_other() -> None:
    registry = CollectorRegistry()
    observer = Observer(registry, lambda _: 20.0, ObserverSettings(max_queue_labels=2))
    rows = (
        _row("a", Channel.CHAT, "15m", offered=1, answered=1, answered_in_sla=1),
        _row("b", Channel.CHAT, "15m", offered=2, answered=2, answered_in_sla=2),
        _row("c", Channel.CHAT, "15m", offered=1, answered=1, answered_in_sla=0),
        _row("d", Channel.CHAT, "15m", offered=3, answered=3, answered_in_sla=3, contacts=1),
        _row("", Channel.CHAT, "15m", offered=7, answered=7, answered_in_sla=6),
    )
    observer.set_snapshot_source(lambda: [LiveSnapshot("t", 0.0, measures=rows)])
    metrics = read(registry)
    level = "cim_router_queue_service_level_ratio"
    assert {s.labels["queue"] for s in metrics.samples if s.name == level} == {"a", "b", "other"}
    # other = c + d: 3 of 4 answered within target, a ratio of the summed counts.
    assert metrics.value(level, queue="other") == 0.75
    assert metrics.value("cim_router_queue_offered", queue="other") == 4
    assert metrics.value("cim_router_service_level_ratio", tenant="t", channel="chat") == 6 / 7
    # FCR: no sample where nobody with a customer id called; 1 where one did, once.
    fcr = "cim_router_queue_first_contact_resolution_ratio"
    assert not metrics.has(fcr, queue="a") and not metrics.has(fcr, queue="b")
    assert metrics.value(fcr, queue="other") == 1.0
