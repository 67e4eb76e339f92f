"""The measures as scrape-time gauges, read from the rows GetStats answers with
(`cim_router.tenant.windows`) and computed by `cim_router.tenant.measures`: no formula here.

Per tenant and channel, over the last 15 minutes: `service_level_ratio` and
`average_speed_of_answer_seconds`. Per tenant, queue and channel, for both windows
(`window` "15m" or "today"): every measure as `queue_*`; and, now, what waits and for how
long. The `queue` label is bounded per tenant: the first `limit` queues seen keep their
name, later ones are summed as `other` (their tallies added, then measured, so a ratio of
`other` is still a ratio of counts). A measure with nothing to measure has no sample.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily

from cim_router.domain.channel import Channel
from cim_router.tenant.live import LiveSnapshot
from cim_router.tenant.measures import Tally, measures
from cim_router.tenant.windows import RECENT

OTHER_QUEUE = "other"
PREFIX = "cim_router_"

# measure name (tenant/measures.py) -> (metric name, help)
QUEUE_MEASURES: dict[str, tuple[str, str]] = {
    "service_level": (
        "queue_service_level_ratio",
        "Answered within the queue's target over answered plus abandoned, short abandons "
        "excluded (docs/measures.md)",
    ),
    "average_speed_of_answer": (
        "queue_average_speed_of_answer_seconds",
        "Mean wait of the answered",
    ),
    "average_handle_time": (
        "queue_average_handle_time_seconds",
        "Mean talk plus wrap-up time of the handled",
    ),
    "abandonment_rate": (
        "queue_abandonment_ratio",
        "Abandoned over offered, short abandons excluded",
    ),
    "transfer_rate": ("queue_transfer_ratio", "Transfers started over handled"),
    "csat_mean": ("queue_csat_mean", "Mean CSAT score of the scored"),
    "first_contact_resolution": (
        "queue_first_contact_resolution_ratio",
        "Contacts not followed by another of the same customer within the FCR window",
    ),
    "average_hold_time": (
        "queue_average_hold_time_seconds",
        "Mean length of the holds that ended",
    ),
}


class QueueLabels:
    """The `queue` label of each tenant: its first `limit` queues by name, the rest
    `other`, so invented queue ids cannot blow up the number of series."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._known: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def __call__(self, tenant: str, queue: str) -> str:
        with self._lock:
            known = self._known.setdefault(tenant, set())
            if queue in known:
                return queue
            if len(known) < self.limit:
                known.add(queue)
                return queue
        return OTHER_QUEUE


@dataclass
class _Sum:
    tally: Tally = field(default_factory=Tally)
    waiting: int = 0
    longest: float = 0.0


LABEL_NAMES: dict[str, tuple[str, ...]] = {}  # each gauge's labels, by metric name


def _family(name: str, text: str, labels: tuple[str, ...]) -> GaugeMetricFamily:
    LABEL_NAMES[name] = labels
    return GaugeMetricFamily(name, text, labels=labels)


def _families() -> dict[str, GaugeMetricFamily]:
    labels = ("tenant", "queue", "channel", "window")
    out = {
        name: _family(PREFIX + metric, text, labels=labels)
        for name, (metric, text) in QUEUE_MEASURES.items()
    }
    now = ("tenant", "queue", "channel")
    out["offered"] = _family(
        PREFIX + "queue_offered", "Interactions that entered the queue in the window", labels=labels
    )
    out["waiting"] = _family(
        PREFIX + "queue_waiting_interactions", "Interactions waiting in the queue now", labels=now
    )
    out["longest"] = _family(
        PREFIX + "queue_longest_wait_seconds", "Wait of the queue's longest waiting", labels=now
    )
    out["open"] = _family(
        PREFIX + "queue_open",
        "1 while the queue is within its hours, else 0 (other: 1 if any of them is open)",
        labels=("tenant", "queue"),
    )
    out["tenant_service_level"] = _family(
        PREFIX + "service_level_ratio",
        "Service level of the last 15 minutes over every queue (docs/measures.md)",
        labels=("tenant", "channel"),
    )
    out["tenant_asa"] = _family(
        PREFIX + "average_speed_of_answer_seconds",
        "Mean wait of the answered in the last 15 minutes, over every queue",
        labels=("tenant", "channel"),
    )
    return out


def describe() -> Iterable[GaugeMetricFamily]:
    return _families().values()


def labelled(label: str) -> set[str]:
    """The gauges here that carry `label`."""
    _families()
    return {name for name, labels in LABEL_NAMES.items() if label in labels}


def measure_families(
    snapshots: Iterable[LiveSnapshot],
    tenant_label: Callable[[str], str],
    queue_label: QueueLabels,
) -> Iterable[GaugeMetricFamily]:
    """Every measure gauge, from the snapshots' rows."""
    per_queue: dict[tuple[str, str, Channel, str], _Sum] = {}
    per_tenant: dict[tuple[str, Channel], Tally] = {}
    snapshots = list(snapshots)
    for snap in snapshots:
        tenant = tenant_label(snap.tenant)
        for row in snap.measures:
            if row.channel is None:
                continue
            if not row.queue_id:
                if row.window == RECENT:
                    per_tenant.setdefault((tenant, row.channel), Tally()).add(row.tally)
                continue
            key = (tenant, queue_label(snap.tenant, row.queue_id), row.channel, row.window)
            found = per_queue.setdefault(key, _Sum())
            found.tally.add(row.tally)
            found.waiting += row.waiting
            found.longest = max(found.longest, row.longest_wait)
    # After the rows, so that the queues with counts are the first to take a label.
    is_open: dict[tuple[str, str], bool] = {}
    for snap in snapshots:
        tenant = tenant_label(snap.tenant)
        for queue_id, now_open in sorted(snap.queue_open.items()):
            key2 = (tenant, queue_label(snap.tenant, queue_id))
            is_open[key2] = is_open.get(key2, False) or now_open
    f = _families()
    for (tenant, queue, channel, window), s in sorted(per_queue.items()):
        labels = [tenant, queue, channel.name.lower(), window]
        for name, value in measures(s.tally).items():
            if value is not None:
                f[name].add_metric(labels, value)
        f["offered"].add_metric(labels, s.tally.offered)
        if window == RECENT:
            f["waiting"].add_metric(labels[:3], s.waiting)
            f["longest"].add_metric(labels[:3], s.longest)
    for (tenant, queue), now_open in sorted(is_open.items()):
        f["open"].add_metric([tenant, queue], 1.0 if now_open else 0.0)
    for (tenant, channel), tally in sorted(per_tenant.items()):
        m = measures(tally)
        labels = [tenant, channel.name.lower()]
        if m["service_level"] is not None:
            f["tenant_service_level"].add_metric(labels, m["service_level"])
        if m["average_speed_of_answer"] is not None:
            f["tenant_asa"].add_metric(labels, m["average_speed_of_answer"])
    return f.values()
