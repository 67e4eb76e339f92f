"""The Observer's parts on their own: the answer window, live snapshots, label limits."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from cim_router.domain.agent import Agent, AgentState
from cim_router.domain.channel import Channel
from cim_router.domain.interaction import Interaction, InteractionState, SkillRequirement
from cim_router.observability import LiveSnapshot, Observer, ObserverSettings, live_snapshot
from cim_router.observability.window import AnswerWindow
from cim_router.tenant.records import (
    AgentRecord,
    CustomerRecord,
    Event,
    EventType,
    InteractionRecord,
    Transition,
)
from tests.observability.conftest import Scrape


def read(registry: CollectorRegistry) -> Scrape:
    families = list(text_string_to_metric_families(generate_latest(registry).decode()))
    return Scrape([s for f in families for s in f.samples], {f.name: f.type for f in families})


def test_answer_window_forgets_answers_older_than_its_span() -> None:
    w = AnswerWindow(60.0, bins=6)  # 10 s bins
    w.add(100.0, 5.0, True)
    w.add(105.0, 30.0, False)
    w.add(125.0, 1.0, True)
    t = w.totals(125.0)
    assert (t.answered, t.within_sla, t.wait_sum) == (3, 2, 36.0)
    assert t.service_level == 2 / 3 and t.average_speed_of_answer == 12.0
    assert w.totals(169.9).answered == 3  # the 100..110 bin ends 60 s before 170
    assert w.totals(170.0).answered == 1
    assert w.totals(190.0).answered == 0
    assert w.totals(190.0).service_level == 1.0


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


def _enqueued(customer: CustomerRecord | None, linked: bool) -> Transition:
    t = Transition()
    if linked:
        t.events.append(Event(1000.0, EventType.LINKED, "new", Channel.SMS, reason="old"))
    t.events.append(Event(1000.0, EventType.ENQUEUED, "new", Channel.SMS))
    if customer is not None:
        t.customers.append(customer)
    return t


def test_a_repeat_contact_is_a_linked_enqueue_of_a_customer_served_within_the_window() -> None:
    registry = CollectorRegistry()
    observer = Observer(registry, lambda _: 20.0, ObserverSettings(fcr_window_seconds=100.0))
    served = CustomerRecord("cust", "new", "ann", last_served_at=950.0)
    observer.transition("t", _enqueued(served, linked=True), 1000.0)  # repeat
    observer.transition("t", _enqueued(served, linked=True), 1051.0)  # served 101 s before
    observer.transition("t", _enqueued(served, linked=False), 1000.0)  # not linked
    never = CustomerRecord("cust", "new")  # linked, but never served (abandoned before)
    observer.transition("t", _enqueued(never, linked=True), 1000.0)
    metrics = read(registry)
    assert metrics.value("cim_router_repeat_contacts_total", channel="sms") == 1
    assert metrics.value("cim_router_interactions_enqueued_total", channel="sms") == 4


def test_a_broken_transition_never_reaches_the_caller() -> None:
    registry = CollectorRegistry()
    observer = Observer(registry, lambda _: 20.0)
    rec = _waiting("i1", Channel.CHAT, 0.0)
    rec.interaction.state = InteractionState.ASSIGNED
    rec.assigned_at = 5.0
    t = Transition(interactions=[rec], counters={"answered": 1})
    t.events.append(Event(5.0, EventType.ACCEPTED, "i1", Channel.CHAT, "ann"))

    def no_sla(_: Channel) -> float:
        raise KeyError("no SLA")

    Observer(CollectorRegistry(), no_sla).transition("t", t, 5.0)  # logged, not raised
    observer.transition("t", t, 5.0)
    metrics = read(registry)
    assert metrics.value("cim_router_wait_seconds_sum", channel="chat") == 5.0
    assert metrics.value("cim_router_interactions_answered_within_sla_total") == 1
