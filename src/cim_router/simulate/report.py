"""The simulator's output: a side-by-side table, or `--json`."""

from __future__ import annotations

from typing import Any

from cim_router.simulate.results import FIGURES, Estimate, RunSummary

JSON_FIGURES = FIGURES  # every total, each with its `<name>_ci` twin
PERCENT = frozenset({"service_level", "p_wait", "abandonment", "occupancy", "occupancy_spread"})
LABELS = {
    "service_level": "service level %",
    "asa_seconds": "ASA s",
    "p_wait": "P(wait>0) %",
    "abandonment": "abandonment %",
    "occupancy": "occupancy %",
    "occupancy_spread": "occupancy spread %",
    "aht_seconds": "AHT s",
    "max_wait_seconds": "longest wait s",
    "queue_length": "queue length",
    "interactions": "interactions",
    "offered": "offered",
    "answered": "answered",
    "abandoned": "abandoned",
}
COUNTS = frozenset({"interactions", "offered", "answered", "abandoned"})
# Each queue's rows in the table (every QUEUE_FIGURES is in --json).
QUEUE_ROWS = ("service_level", "asa_seconds", "abandonment", "max_wait_seconds", "offered")


def _num(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def _figure(out: dict[str, Any], name: str, e: Estimate | None) -> None:
    out[name] = None if e is None else _num(e.mean)
    out[f"{name}_ci"] = None if e is None else _num(e.ci)


def _figures(figs: dict[str, Estimate | None]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for fig, e in figs.items():
        _figure(out, fig, e)
    return out


def as_json(runs: list[RunSummary], replications: int, interrupted: bool) -> dict[str, Any]:
    """`{"runs": [...]}`: one object per policy in the order given, then the baseline."""
    out: list[dict[str, Any]] = []
    for run in runs:
        o: dict[str, Any] = {"name": run.name, "replications": len(run.days)}
        for fig in JSON_FIGURES:
            _figure(o, fig, run.totals.get(fig))
        o["queues"] = {q: _figures(figs) for q, figs in run.queues.items()}
        o["groups"] = {gname: _figures(figs) for gname, figs in run.groups.items()}
        o["intervals"] = []
        for k, figs in enumerate(run.intervals):
            iv: dict[str, Any] = {"interval": k}
            for fig, e in figs.items():
                _figure(iv, fig, e)
            iv["groups"] = {}
            for gname, e in run.interval_groups[k].items():
                _figure(iv["groups"].setdefault(gname, {}), "occupancy", e)
            o["intervals"].append(iv)
        if run.compared_with:
            d: dict[str, Any] = {"against": run.compared_with}
            for fig, e in run.differences.items():
                _figure(d, fig, e)
            d["queues"] = {q: _figures(figs) for q, figs in run.queue_differences.items()}
            o["difference"] = d
        out.append(o)
    return {"runs": out, "replications": replications, "interrupted": interrupted}


def _cell(e: Estimate | None, fig: str) -> str:
    if e is None:
        return "-"
    scale = 100.0 if fig in PERCENT else 1.0
    digits = 0 if fig in COUNTS else (2 if fig in PERCENT or fig == "queue_length" else 1)
    text = f"{e.mean * scale:.{digits}f}"
    if e.ci is not None:
        text += f" ±{e.ci * scale:.{digits}f}"
    return text


def table(runs: list[RunSummary]) -> str:
    """Figures down, runs across; then each run's paired difference from its reference."""
    header = ["", *(r.name for r in runs)]
    diffs = [r for r in runs if r.compared_with]
    header += [f"{r.name} - {r.compared_with}" for r in diffs]
    rows = [header]
    for fig in FIGURES:
        row = [LABELS[fig], *(_cell(r.totals.get(fig), fig) for r in runs)]
        row += [_cell(r.differences.get(fig), fig) for r in diffs]
        rows.append(row)
    queues = list(dict.fromkeys(q for r in runs for q in r.queues))
    for q in queues:
        for fig in QUEUE_ROWS:
            row = [f"{q} {LABELS[fig]}"]
            row += [_cell(r.queues.get(q, {}).get(fig), fig) for r in runs]
            row += [_cell(r.queue_differences.get(q, {}).get(fig), fig) for r in diffs]
            rows.append(row)
    groups = list(runs[0].groups) if runs else []
    for gname in groups:
        for fig in ("occupancy", "occupancy_spread"):
            row = [f"{gname} {LABELS[fig]}", *(_cell(r.groups[gname][fig], fig) for r in runs)]
            row += [""] * len(diffs)
            rows.append(row)
    widths = [max(len(row[c]) for row in rows) for c in range(len(header))]
    lines = []
    for k, row in enumerate(rows):
        cells = [
            row[0].ljust(widths[0]),
            *(x.rjust(w) for x, w in zip(row[1:], widths[1:], strict=True)),
        ]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def interval_table(run: RunSummary) -> str:
    """One run's figures per interval."""
    figs = ("service_level", "asa_seconds", "abandonment", "occupancy", "queue_length")
    lines = [f"{run.name}: per interval", "  k  " + "  ".join(f"{LABELS[f]:>18}" for f in figs)]
    for k, iv in enumerate(run.intervals):
        lines.append(f"{k:3d}  " + "  ".join(f"{_cell(iv[f], f):>18}" for f in figs))
    return "\n".join(lines)
