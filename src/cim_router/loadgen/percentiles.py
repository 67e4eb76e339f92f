"""Exact percentiles of latency samples: every sample is kept, sorted once per summary."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

QUANTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50.0),
    ("p90", 90.0),
    ("p99", 99.0),
    ("p99.9", 99.9),
)


def percentile(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank `q`-th percentile of `ordered` (sorted ascending): the smallest
    sample with at least q% of the samples at or below it, as HDR histograms report it,
    without their bucketing. ValueError for no samples or q outside [0, 100]."""
    if not ordered:
        raise ValueError("percentile of no samples")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile {q} outside [0, 100]")
    # round() first: 99.9 * 1000 / 100 is 999.0000000000001 in floating point.
    rank = math.ceil(round(q * len(ordered) / 100.0, 9))
    return ordered[max(rank, 1) - 1]


def summary(samples: Iterable[float], scale: float = 1e3) -> dict[str, Any]:
    """count, p50, p90, p99, p99.9, max and mean of `samples` (seconds) times `scale`
    (milliseconds by default); the figures are None when there are no samples."""
    ordered = sorted(samples)
    out: dict[str, Any] = {"count": len(ordered)}
    for name, q in QUANTILES:
        out[name] = percentile(ordered, q) * scale if ordered else None
    out["max"] = ordered[-1] * scale if ordered else None
    out["mean"] = sum(ordered) / len(ordered) * scale if ordered else None
    return out
