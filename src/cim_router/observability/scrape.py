"""Gauges computed when Prometheus scrapes: live state and the service-level window."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cim_router.domain.agent import AgentState
from cim_router.domain.channel import Channel
from cim_router.observability.live import LiveSnapshot
from cim_router.observability.measure_gauges import QueueLabels, measure_families
from cim_router.observability.measure_gauges import describe as describe_measures

log = logging.getLogger(__name__)

OTHER_TENANT = "_other"
OTHER_SKILL = "other"


class TenantLabels:
    """The `tenant` label: the first `limit` tenants by name, later ones as `_other`, so a
    client inventing tenants cannot blow up the number of series."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, tenant: str) -> str:
        if tenant in self._known:
            return tenant
        with self._lock:
            if len(self._known) < self.limit:
                self._known.add(tenant)
                return tenant
        return OTHER_TENANT


# key -> (name, help, the label besides `tenant`)
GAUGES: dict[str, tuple[str, str, str]] = {
    "waiting": ("waiting_interactions", "Interactions not yet connected to an agent", "channel"),
    "skill": (
        "waiting_interactions_by_skill",
        "Waiting interactions by required skill; unlisted skills summed as other",
        "skill",
    ),
    "longest": ("longest_wait_seconds", "Wait of the longest-waiting interaction", "channel"),
    "agents": ("agents", "Agents by state", "state"),
    "staffed": ("capacity_staffed", "Interaction slots of logged-in agents", "channel"),
    "busy": ("capacity_busy", "Slots of logged-in agents held or offered", "channel"),
    "occupancy": ("occupancy_ratio", "Busy over staffed capacity", "channel"),
}


def _families() -> dict[str, GaugeMetricFamily]:
    return {
        key: GaugeMetricFamily("cim_router_" + name, text, labels=("tenant", label))
        for key, (name, text, label) in GAUGES.items()
    }


class ScrapeCollector(Collector):
    """Reads live snapshots (from `source`), with their measures, at every scrape."""

    def __init__(
        self, tenant_label: TenantLabels, skill_labels: frozenset[str], queue_labels: QueueLabels
    ) -> None:
        self.source: Callable[[], Iterable[LiveSnapshot]] | None = None
        self._tenant = tenant_label
        self._skills = skill_labels
        self._queues = queue_labels
        # Counted here, not registered apart, so a scrape reports its own failure.
        self._errors = Counter(
            "cim_router_live_snapshot_errors",
            "Scrapes whose live-state snapshot could not be read",
            registry=None,
        )

    def describe(self) -> Iterator[Metric]:
        yield from _families().values()
        yield from describe_measures()
        yield from self._errors.describe()

    def collect(self) -> Iterator[Metric]:
        families = _families()
        snapshots = self._snapshots()
        self._add_live(families, snapshots)
        yield from families.values()
        yield from measure_families(snapshots, self._tenant, self._queues)
        yield from self._errors.collect()

    def _snapshots(self) -> list[LiveSnapshot]:
        if self.source is None:
            return []
        try:
            return list(self.source())
        except Exception:  # a scrape still reports everything else
            log.warning("live snapshot failed", exc_info=True)
            self._errors.inc()
            return []

    def _add_live(self, f: dict[str, GaugeMetricFamily], snapshots: list[LiveSnapshot]) -> None:
        # Sum first: several tenants may share `_other`, several skills `other`.
        waiting: dict[tuple[str, Channel], int] = {}
        longest: dict[tuple[str, Channel], float] = {}
        staffed: dict[tuple[str, Channel], int] = {}
        busy: dict[tuple[str, Channel], int] = {}
        agents: dict[tuple[str, AgentState], int] = {}
        skills: dict[tuple[str, str], int] = {}
        for snap in snapshots:
            tenant = self._tenant(snap.tenant)
            for ch in Channel:
                key = (tenant, ch)
                waiting[key] = waiting.get(key, 0) + snap.waiting_by_channel.get(ch, 0)
                wait = snap.longest_wait_by_channel.get(ch, 0.0)
                longest[key] = max(longest.get(key, 0.0), wait)
                staffed[key] = staffed.get(key, 0) + snap.staffed_capacity.get(ch, 0)
                busy[key] = busy.get(key, 0) + snap.busy_capacity.get(ch, 0)
            for state in AgentState:
                agents[tenant, state] = agents.get((tenant, state), 0) + snap.agents_by_state.get(
                    state, 0
                )
            for skill in (*sorted(self._skills), OTHER_SKILL):
                skills.setdefault((tenant, skill), 0)
            for skill, n in snap.waiting_by_skill.items():
                key2 = (tenant, skill if skill in self._skills else OTHER_SKILL)
                skills[key2] += n
        for (tenant, ch), n in waiting.items():
            labels = [tenant, ch.name.lower()]
            f["waiting"].add_metric(labels, n)
            f["longest"].add_metric(labels, longest[tenant, ch])
            f["staffed"].add_metric(labels, staffed[tenant, ch])
            f["busy"].add_metric(labels, busy[tenant, ch])
            if staffed[tenant, ch]:
                f["occupancy"].add_metric(labels, busy[tenant, ch] / staffed[tenant, ch])
        for (tenant, state), n in agents.items():
            f["agents"].add_metric([tenant, state.name.lower()], n)
        for (tenant, skill), n in skills.items():
            f["skill"].add_metric([tenant, skill], n)
