"""The per-queue gauges read from live snapshots: whether each queue is open, under the
bounded queue label."""

from __future__ import annotations

from cim_router.observability.measure_gauges import QueueLabels, measure_families
from cim_router.tenant.live import LiveSnapshot


def _open_samples(snapshots: list[LiveSnapshot], limit: int) -> dict[tuple[str, str], float]:
    families = measure_families(snapshots, lambda t: t, QueueLabels(limit))
    found = [f for f in families if f.name == "cim_router_queue_open"]
    assert len(found) == 1
    return {(s.labels["tenant"], s.labels["queue"]): s.value for s in found[0].samples}


def test_queue_open_is_one_or_zero_per_queue() -> None:
    snap = LiveSnapshot("acme", 0.0, queue_open={"default": True, "night": False})
    assert _open_samples([snap], 10) == {("acme", "default"): 1.0, ("acme", "night"): 0.0}


def test_queues_past_the_label_limit_are_other_and_open_if_any_is() -> None:
    snap = LiveSnapshot("acme", 0.0, queue_open={"a": False, "b": False, "c": True})
    assert _open_samples([snap], 1) == {("acme", "a"): 0.0, ("acme", "other"): 1.0}
