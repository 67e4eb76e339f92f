"""Prometheus metrics for the router: the `Observer` the service reports to.

The service calls `transition` after each durable write, `decision` around each routing
decision, `rpc` from the gRPC interceptor and `redis_roundtrip` / `redis_error` from the
store; live gauges (queues, agents, occupancy, service level) are computed when scraped.

Labels are bounded: `tenant` (the first `max_tenant_labels` tenants seen, later ones as
`_other`), `channel`, `state`, `skill` (the configured set, the rest as `other`), `method`,
`code` and `op`. Never an interaction, agent or customer id.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

from cim_router.domain.channel import Channel
from cim_router.domain.policy import Policy
from cim_router.observability.live import LiveSnapshot
from cim_router.observability.scrape import ScrapeCollector, TenantLabels
from cim_router.observability.window import AnswerWindow
from cim_router.tenant.records import Event, EventType, InteractionRecord, Transition

PREFIX = "cim_router_"
# Contact-centre targets run from a few seconds (voice) to an hour (email, social).
WAIT_BUCKETS = (1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1800, 3600)
HANDLE_BUCKETS = (10, 30, 60, 120, 180, 300, 450, 600, 900, 1200, 1800, 3600, 7200)
CSAT_BUCKETS = (1, 2, 3, 4, 5)
# One decision of the compiled core takes microseconds.
DECISION_BUCKETS = (1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 1e-2)
REDIS_BUCKETS = (5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 0.1, 0.5, 1.0)
RPC_BUCKETS = (1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 0.1, 0.5, 1, 5, 30)

log = logging.getLogger(__name__)
event_log = logging.getLogger("cim_router.events")

# Event type -> (metric name, help): counted by tenant and channel, one per event.
EVENT_COUNTERS: dict[EventType, tuple[str, str]] = {
    EventType.ENQUEUED: ("interactions_enqueued", "Interactions enqueued"),
    EventType.OFFERED: ("offers", "Offers made to agents"),
    EventType.ACCEPTED: ("offers_accepted", "Offers accepted"),
    EventType.REJECTED: ("offers_rejected", "Offers rejected"),
    EventType.OFFER_EXPIRED: ("offers_expired", "Offers that timed out unanswered"),
    EventType.COMPLETED: ("interactions_completed", "Interactions completed (after wrap-up)"),
    EventType.CANCELLED: ("interactions_cancelled", "Interactions cancelled"),
    EventType.TRANSFER_REQUESTED: ("transfers", "Transfers requested and started"),
    EventType.TRANSFER_FAILED: ("transfers_failed", "Warm transfers to an agent that failed"),
    EventType.ESCALATED: ("interactions_escalated", "Escalations"),
}


@dataclass(frozen=True)
class ObserverSettings:
    """What the metrics break down by and over which windows."""

    skill_labels: frozenset[str] = frozenset()  # other skills are reported as "other"
    fcr_window_seconds: float = 7 * 24 * 3600.0
    service_level_window_seconds: float = 15 * 60.0
    max_tenant_labels: int = 64
    clock: Callable[[], float] = time.time  # for the sliding window at scrape time


def channel_label(channel: Channel) -> str:
    return channel.name.lower()


class Observer:
    """Counts what the router does and serves it to a Prometheus registry.

    `sla_for` gives the SLA target of a channel (a `Policy` works); an interaction's own
    `sla_seconds` wins over it.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        sla_for: Policy | Callable[[Channel], float],
        settings: ObserverSettings | None = None,
    ) -> None:
        self.registry = registry
        self.settings = settings or ObserverSettings()
        if isinstance(sla_for, Policy):
            targets = dict(sla_for.sla_seconds)
            self._sla_for: Callable[[Channel], float] = targets.__getitem__
        else:
            self._sla_for = sla_for
        self._tenant = TenantLabels(self.settings.max_tenant_labels)
        self._lock = threading.Lock()  # the windows are read by the scrape thread
        self._windows: dict[tuple[str, Channel], AnswerWindow] = {}
        self._event_children: dict[tuple[EventType, str, str], Counter] = {}
        self._rpc_children: dict[tuple[str, str], tuple[Counter, Histogram]] = {}
        self._define_metrics(registry)
        self._scrape = ScrapeCollector(
            self._tenant, self.settings.skill_labels, self._window_totals
        )
        registry.register(self._scrape)

    def _define_metrics(self, r: CollectorRegistry) -> None:
        tc = ("tenant", "channel")
        self._by_event = {
            type: Counter(PREFIX + name, text, tc, registry=r)
            for type, (name, text) in EVENT_COUNTERS.items()
        }
        self._answered = Counter(
            PREFIX + "interactions_answered",
            "Interactions accepted for the first time",
            tc,
            registry=r,
        )
        self._within_sla = Counter(
            PREFIX + "interactions_answered_within_sla",
            "First accepts within the SLA target",
            tc,
            registry=r,
        )
        self._abandoned = Counter(
            PREFIX + "interactions_abandoned",
            "Interactions cancelled before an agent was assigned",
            tc,
            registry=r,
        )
        self._repeat = Counter(
            PREFIX + "repeat_contacts",
            "Enqueues of a customer served within the first-contact-resolution window",
            tc,
            registry=r,
        )
        self._wait = Histogram(
            PREFIX + "wait_seconds",
            "Wait from enqueue to the first accept",
            tc,
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self._handle = Histogram(
            PREFIX + "handle_seconds",
            "Handle time from the last assignment to the end of the conversation",
            tc,
            buckets=HANDLE_BUCKETS,
            registry=r,
        )
        self._csat = Histogram(
            PREFIX + "csat_score",
            "Customer satisfaction (1..5) of completed interactions that have one",
            tc,
            buckets=CSAT_BUCKETS,
            registry=r,
        )
        self._decision = Histogram(
            PREFIX + "decision_seconds",
            "Latency of one routing decision in the core",
            buckets=DECISION_BUCKETS,
            registry=r,
        )
        self._rpc_total = Counter(
            PREFIX + "grpc_requests",
            "gRPC requests by method and status code",
            ("method", "code"),
            registry=r,
        )
        self._rpc_seconds = Histogram(
            PREFIX + "grpc_request_duration_seconds",
            "gRPC request latency (a stream's whole lifetime)",
            ("method",),
            buckets=RPC_BUCKETS,
            registry=r,
        )
        self._redis_seconds = Histogram(
            PREFIX + "redis_roundtrip_seconds",
            "Redis round trip by operation",
            ("op",),
            buckets=REDIS_BUCKETS,
            registry=r,
        )
        self._redis_errors = Counter(
            PREFIX + "redis_errors", "Redis operations that failed", ("op",), registry=r
        )

    # --- what the service reports ---------------------------------------------------------

    def set_snapshot_source(self, source: Callable[[], Iterable[LiveSnapshot]] | None) -> None:
        """Where the scrape-time gauges read live state: one snapshot per tenant."""
        self._scrape.source = source

    def transition(self, tenant: str, t: Transition, now: float) -> None:
        """Account for a transition just written durably; never raises, as the write is done
        and the caller's answer must not depend on its metrics."""
        try:
            self._transition(tenant, t, now)
        except Exception:
            log.exception("metrics for a transition failed")

    def _transition(self, tenant: str, t: Transition, now: float) -> None:
        label = self._tenant(tenant)
        records = {r.id: r for r in t.interactions}
        for e in t.events:
            channel = channel_label(e.channel)
            counter = self._event_child(e.type, label, channel)
            if counter is not None:
                counter.inc()
            rec = records.get(e.interaction_id)
            if e.type == EventType.ACCEPTED and t.counters.get("answered") and rec:
                self._answer(label, rec)
            elif e.type == EventType.CANCELLED and t.counters.get("abandoned"):
                self._abandoned.labels(label, channel).inc()
            elif e.type == EventType.WRAP_UP_STARTED and rec:
                self._ended(label, rec, e.at)
            elif e.type == EventType.COMPLETED and rec:
                if not rec.wrap_up_until:  # no wrap-up: the conversation ends here
                    self._ended(label, rec, e.at)
                if rec.csat:
                    self._csat.labels(label, channel_label(rec.interaction.channel)).observe(
                        rec.csat
                    )
            elif e.type == EventType.ENQUEUED and self._is_repeat(e, t, now):
                self._repeat.labels(label, channel).inc()
            if event_log.isEnabledFor(logging.DEBUG):
                self._log(tenant, e, channel)

    def decision(self, seconds: float) -> None:
        """One routing decision's latency."""
        self._decision.observe(seconds)

    def rpc(self, method: str, code: str, seconds: float) -> None:
        """One finished gRPC call: its method, status code name and duration."""
        key = (method, code)
        children = self._rpc_children.get(key)
        if children is None:
            children = (self._rpc_total.labels(method, code), self._rpc_seconds.labels(method))
            self._rpc_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def redis_roundtrip(self, op: str, seconds: float) -> None:
        self._redis_seconds.labels(op).observe(seconds)

    def redis_error(self, op: str) -> None:
        self._redis_errors.labels(op).inc()

    # --- helpers --------------------------------------------------------------------------

    def _event_child(self, type: EventType, tenant: str, channel: str) -> Counter | None:
        # Labelled children are cached: `labels()` costs more than the increment.
        key = (type, tenant, channel)
        child = self._event_children.get(key)
        if child is None:
            counter = self._by_event.get(type)
            if counter is None:
                return None
            child = self._event_children[key] = counter.labels(tenant, channel)
        return child

    def _answer(self, tenant: str, rec: InteractionRecord) -> None:
        i = rec.interaction
        wait = max(0.0, rec.assigned_at - i.enqueued_at)
        within = wait <= (i.sla_seconds or self._sla_for(i.channel))
        channel = channel_label(i.channel)
        self._answered.labels(tenant, channel).inc()
        if within:
            self._within_sla.labels(tenant, channel).inc()
        self._wait.labels(tenant, channel).observe(wait)
        with self._lock:
            window = self._windows.get((tenant, i.channel))
            if window is None:
                window = AnswerWindow(self.settings.service_level_window_seconds)
                self._windows[tenant, i.channel] = window
            window.add(rec.assigned_at, wait, within)

    def _ended(self, tenant: str, rec: InteractionRecord, at: float) -> None:
        if rec.assigned_at:
            channel = channel_label(rec.interaction.channel)
            self._handle.labels(tenant, channel).observe(max(0.0, at - rec.assigned_at))

    def _is_repeat(self, enqueued: Event, t: Transition, now: float) -> bool:
        """A repeat contact: the enqueue links to the customer's earlier interaction (a
        LINKED event) and an agent served that customer (accepted or completed their
        interaction) at most `fcr_window_seconds` before it."""
        iid = enqueued.interaction_id
        if not any(e.type == EventType.LINKED and e.interaction_id == iid for e in t.events):
            return False
        return any(
            c.last_interaction_id == iid
            and c.last_served_at > 0
            and now - c.last_served_at <= self.settings.fcr_window_seconds
            for c in t.customers
        )

    def _window_totals(self) -> list[tuple[str, Channel, int, float, float]]:
        """(tenant, channel, answered, service level, average speed of answer) per window
        with answers in it."""
        now = self.settings.clock()
        out = []
        with self._lock:
            for (tenant, channel), window in self._windows.items():
                totals = window.totals(now)
                if totals.answered:
                    out.append(
                        (
                            tenant,
                            channel,
                            totals.answered,
                            totals.service_level,
                            totals.average_speed_of_answer,
                        )
                    )
        return out

    @staticmethod
    def _log(tenant: str, e: Event, channel: str) -> None:
        # Ids, channel and event type only: reasons and context may carry customer data.
        event_log.debug(
            "%s %s",
            e.type.name,
            e.interaction_id,
            extra={
                "tenant": tenant,
                "interaction_id": e.interaction_id,
                "agent_id": e.agent_id or None,
                "channel": channel,
                "event": e.type.name,
            },
        )
