"""`--plot FILE.png`: service level and queue length per interval, one line per run."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from cim_router.simulate.results import RunSummary


def plot(runs: list[RunSummary], interval_minutes: float, path: str | Path) -> None:
    fig, (sl, queue) = plt.subplots(2, 1, sharex=True, figsize=(9, 6))
    for run in runs:
        n = len(run.intervals)
        # Steps: each interval's value from its start to its end.
        hours = [k * interval_minutes / 60.0 for k in range(n + 1)]
        for axis, fig_name, scale in ((sl, "service_level", 100.0), (queue, "queue_length", 1.0)):
            values = [iv[fig_name] for iv in run.intervals]
            ys = [scale * e.mean if e is not None else float("nan") for e in values]
            axis.step(hours, [*ys, ys[-1] if ys else float("nan")], where="post", label=run.name)
    sl.set_ylabel("service level %")
    sl.grid(True, alpha=0.3)
    sl.legend(loc="best")
    queue.set_ylabel("queue length (mean)")
    queue.set_xlabel("hour of the day")
    queue.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
