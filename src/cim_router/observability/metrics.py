"""Prometheus metrics for the router: the `Observer` the service reports to.

The service calls `transition` after each durable write, `decision` around each routing
decision, `rpc` from the gRPC interceptor and `redis_roundtrip` / `redis_error` from the
store; live gauges (queues, agents, occupancy, service level) are computed when scraped.

Labels are bounded: `tenant` (the first `max_tenant_labels` tenants seen, later ones as
`_other`), `channel`, `state`, `skill` (the configured set, the rest as `other`), `method`,
`code`, `op`, and on the measure gauges `queue` (the first `max_queue_labels` queues of a
tenant, later ones as `other`) and `window`. Never an interaction, agent or customer id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

from cim_router.domain.channel import Channel
from cim_router.domain.policy import Policy
from cim_router.observability.live import LiveSnapshot
from cim_router.observability.measure_gauges import QueueLabels
from cim_router.observability.scrape import ScrapeCollector, TenantLabels
from cim_router.tenant.records import Event, EventType, InteractionRecord, Transition
from cim_router.tenant.tallies import parse_field

PREFIX = "cim_router_"
# Contact-centre targets run from a few seconds (voice) to an hour (email, social).
WAIT_BUCKETS = (1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1800, 3600)
HANDLE_BUCKETS = (10, 30, 60, 120, 180, 300, 450, 600, 900, 1200, 1800, 3600, 7200)
CSAT_BUCKETS = (1, 2, 3, 4, 5)
HOLD_BUCKETS = (5, 10, 30, 60, 120, 180, 300, 600, 900, 1800, 3600)
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
    EventType.RULE_FIRED: ("overflow_rules_fired", "Overflow rules of queues that fired"),
    EventType.HELD: ("holds", "Holds started"),
    EventType.HOLD_LIMIT_EXCEEDED: ("holds_over_limit", "Holds longer than hold_limit_seconds"),
    EventType.FEEDBACK_RECEIVED: ("feedback_received", "SubmitFeedback calls recorded"),
}


# Tally count (tenant/tallies.py) -> (metric name, help): counted by tenant and channel
# from the counts each transition stores, so the metrics count what GetStats counts.
TALLY_COUNTERS: dict[str, tuple[str, str]] = {
    "answered": ("interactions_answered", "Interactions accepted for the first time"),
    "answered_in_sla": (
        "interactions_answered_within_sla",
        "First accepts within the queue's service-level target",
    ),
    "abandoned": (
        "interactions_abandoned",
        "Interactions the customer left before any agent answered",
    ),
    "short_abandoned": (
        "interactions_abandoned_short",
        "Abandons within the policy's short_abandon_seconds",
    ),
    "overflowed": (
        "interactions_overflowed",
        "Interactions an overflow rule moved to another queue or ended, or a queue's maximum "
        "wait ended, by the queue they left",
    ),
    "outbound": ("interactions_outbound", "Outbound interactions enqueued (callbacks apart)"),
    "callbacks": ("callbacks_requested", "Waiting work turned into a callback"),
    "callback_attempts": ("callback_attempts", "Callback attempts that ended, any outcome"),
    "repeats": (
        "repeat_contacts",
        "Contacts of a customer served within the FCR window before, by the earlier "
        "contact's channel",
    ),
}
# Status codes whose series exist from the start for every method, at zero.
RPC_CODES = (
    "OK",
    "INVALID_ARGUMENT",
    "NOT_FOUND",
    "FAILED_PRECONDITION",
    "ALREADY_EXISTS",
    "RESOURCE_EXHAUSTED",
    "UNAUTHENTICATED",
    "PERMISSION_DENIED",
    "UNAVAILABLE",
    "CANCELLED",
    "DEADLINE_EXCEEDED",
    "INTERNAL",
    "UNKNOWN",
)
REDIS_OPS = ("read", "load", "commit", "commit_skipped", "ping")  # the Redis store's


@dataclass(frozen=True)
class ObserverSettings:
    """What the metrics break down by."""

    skill_labels: frozenset[str] = frozenset()  # other skills are reported as "other"
    max_tenant_labels: int = 64
    max_queue_labels: int = 50  # per tenant; later queues are reported as "other"
    clock: Callable[[], float] = time.time


def channel_label(channel: Channel) -> str:
    return channel.name.lower()


class Observer:
    """Counts what the router does and serves it to a Prometheus registry.

    `sla_for` is no longer read: whether an answer was within its target is counted once,
    in the tenant's tallies (tenant/counting.py), and the counters here add those up.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        sla_for: Policy | Callable[[Channel], float],
        settings: ObserverSettings | None = None,
    ) -> None:
        self.registry = registry
        self.settings = settings or ObserverSettings()
        self._tenant = TenantLabels(self.settings.max_tenant_labels)
        self._event_children: dict[tuple[EventType, str, str], Counter] = {}
        self._tally_children: dict[tuple[str, str], Counter | None] = {}
        self._rpc_children: dict[tuple[str, str], tuple[Counter, Histogram]] = {}
        self._session_children: dict[tuple[str, str], tuple[Counter, Histogram]] = {}
        self._prepared: set[str] = set()  # tenant labels whose series exist at zero
        self._define_metrics(registry)
        self._scrape = ScrapeCollector(
            self._tenant, self.settings.skill_labels, QueueLabels(self.settings.max_queue_labels)
        )
        registry.register(self._scrape)

    def _define_metrics(self, r: CollectorRegistry) -> None:
        tc = ("tenant", "channel")
        self._by_event = {
            type: Counter(PREFIX + name, text, tc, registry=r)
            for type, (name, text) in EVENT_COUNTERS.items()
        }
        self._by_tally = {
            name: Counter(PREFIX + metric, text, tc, registry=r)
            for name, (metric, text) in TALLY_COUNTERS.items()
        }
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
        self._hold = Histogram(
            PREFIX + "hold_seconds",
            "Length of each hold that ended (Resume, or completed, cancelled, transferred away)",
            tc,
            buckets=HOLD_BUCKETS,
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
        self._session_total = Counter(
            PREFIX + "session_messages",
            "Calls made over Session streams, by method and status code",
            ("method", "code"),
            registry=r,
        )
        self._session_seconds = Histogram(
            PREFIX + "session_message_duration_seconds",
            "Latency of a call made over a Session stream, read to answered",
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

    def prepare(self, tenants: Iterable[str], methods: Iterable[str]) -> None:
        """Create at zero the series of every label value known at start: per tenant and
        channel, every event and tally counter; per method, every status code; per Redis
        operation, its errors. A scrape then shows 0 rather than no series."""
        for tenant in tenants:
            self._prepare_tenant(self._tenant(tenant))
        for method in methods:
            for code in RPC_CODES:
                self._rpc_total.labels(method, code)
            self._rpc_seconds.labels(method)
        for op in REDIS_OPS:
            self._redis_errors.labels(op)
            self._redis_seconds.labels(op)

    def _prepare_tenant(self, label: str) -> None:
        self._prepared.add(label)
        for channel in Channel:
            name = channel_label(channel)
            for type in EVENT_COUNTERS:
                self._event_child(type, label, name)
            for counter in self._by_tally.values():
                counter.labels(label, name)

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
        if label not in self._prepared:
            self._prepare_tenant(label)
        records = {r.id: r for r in t.interactions}
        for e in t.events:
            channel = channel_label(e.channel)
            counter = self._event_child(e.type, label, channel)
            if counter is not None:
                counter.inc()
            rec = records.get(e.interaction_id)
            if e.type == EventType.ACCEPTED and t.counters.get("answered") and rec:
                self._waited(label, rec)
            elif e.type == EventType.WRAP_UP_STARTED and rec:
                self._ended(label, rec, e.at)
            elif e.type == EventType.COMPLETED and rec:
                if not rec.wrap_up_until:  # no wrap-up: the conversation ends here
                    self._ended(label, rec, e.at)
                if rec.csat:
                    self._csat.labels(label, channel_label(rec.interaction.channel)).observe(
                        rec.csat
                    )
            elif e.type == EventType.FEEDBACK_RECEIVED and rec and _first_score(t):
                # A replaced score is not observed again: one sample per interaction.
                self._csat.labels(label, channel).observe(rec.csat)
            elif e.type == EventType.RESUMED and rec:
                self._hold.labels(label, channel).observe(rec.last_hold_seconds)
            if event_log.isEnabledFor(logging.DEBUG):
                self._log(tenant, e, channel)
        for (_, field), n in t.tallies.items():
            tally = self._tally_child(label, field)
            if tally is not None:
                tally.inc(n)

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

    def session_message(self, method: str, code: str, seconds: float) -> None:
        """One call answered on a Session stream: its method (the unary RPC's name), the
        status code name of its answer, and how long it took."""
        key = (method, code)
        children = self._session_children.get(key)
        if children is None:
            children = (
                self._session_total.labels(method, code),
                self._session_seconds.labels(method),
            )
            self._session_children[key] = children
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

    def _tally_child(self, tenant: str, field: str) -> Counter | None:
        key = (tenant, field)
        if key in self._tally_children:
            return self._tally_children[key]
        child = None
        parsed = parse_field(field)
        if parsed is not None and parsed[2] in self._by_tally:
            _, channel, name = parsed
            child = self._by_tally[name].labels(tenant, channel_label(channel))
        if len(self._tally_children) < 100_000:  # field names carry queue ids: bounded
            self._tally_children[key] = child
        return child

    def _waited(self, tenant: str, rec: InteractionRecord) -> None:
        i = rec.interaction
        wait = max(0.0, rec.assigned_at - i.enqueued_at)
        self._wait.labels(tenant, channel_label(i.channel)).observe(wait)

    def _ended(self, tenant: str, rec: InteractionRecord, at: float) -> None:
        if rec.assigned_at:
            channel = channel_label(rec.interaction.channel)
            self._handle.labels(tenant, channel).observe(max(0.0, at - rec.assigned_at))

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


def _first_score(t: Transition) -> bool:
    """Whether the transition counted a first CSAT score (not a replaced one)."""
    return any(field.endswith("|csat_count") for _, field in t.tallies)
