"""A run's figures: a JSON-ready dict, and the same as an aligned table for people."""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cim_router.loadgen.percentiles import QUANTILES, summary
from cim_router.loadgen.recorder import RPCS
from cim_router.tenant import measures

if TYPE_CHECKING:
    from cim_router.loadgen.runner import LoadRun


@dataclass(frozen=True)
class Outcome:
    """How the run went, in seconds of perf_counter."""

    setup_seconds: float  # streams, probe, agents
    arrival_seconds: float  # first to last arrival (the duration, for a timed run)
    ack_seconds: float  # first arrival to the last Enqueue acknowledged
    drain_seconds: float
    drained: bool  # every interaction closed within the grace period
    unfinished_calls: int  # cancelled when the grace period ran out
    busy_agent_seconds: float


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def behaviour(run: LoadRun) -> dict[str, Any]:
    """What each behaviour did: rejects sent, offers left to expire (and agents the router
    set NOT_READY for it, made available again), CSAT scores given, returning customers,
    and Enqueues acknowledged per queue of the mix."""
    b, cfg = run.b, run.config
    enqueued = [c for c in run.customers.values() if c.enqueued]
    given = sum(b.csat.values())
    per_queue = Counter(c.spec.queue_id for c in enqueued)
    return {
        "rejects_sent": b.rejects,
        "offers_left_to_expire": b.left_to_expire,
        "agents_made_ready_again": b.made_ready,
        "csat_given": given,
        "csat_mean": _ratio(sum(k * n for k, n in b.csat.items()), given),
        "csat_scores": {str(k): b.csat[k] for k in range(1, 6)},
        "returning_customers": sum(1 for c in enqueued if c.spec.returning),
        "queues": {
            "mix": dict(cfg.queues),
            "created": b.queues_created,
            "note": b.queues_note,
            "enqueued": {q: per_queue[q] for q in cfg.queues},
        },
    }


def build_report(run: LoadRun, outcome: Outcome) -> dict[str, Any]:
    """Every figure of the run. Counts are of interactions unless named otherwise:
    enqueued + enqueue errors + unacknowledged = sent; answered + abandoned + waiting =
    enqueued; latencies are milliseconds, each with the count of samples behind it."""
    cfg, rec = run.config, run.rec
    customers = list(run.customers.values())
    enqueued = [c for c in customers if c.enqueued]
    answered = sum(1 for c in enqueued if c.answered_at is not None)
    abandoned = sum(1 for c in enqueued if c.abandoned)
    waiting = sum(1 for c in enqueued if c.answered_at is None and not c.abandoned)
    completed = sum(1 for c in enqueued if c.completed)
    enqueue_errors = rec.errors_of("Enqueue")
    within_sla = sum(1 for w in rec.waits if w <= cfg.sla_seconds)
    # The router's definitions (docs/measures.md) on what the harness saw: it knows no
    # short-abandon threshold, so every abandon counts.
    seen = measures.Tally(
        offered=len(enqueued),
        answered=len(rec.waits),
        answered_in_sla=within_sla,
        wait_seconds=sum(rec.waits),
        abandoned=abandoned,
    )
    staffed = cfg.agents * (outcome.arrival_seconds + outcome.drain_seconds)
    occupancy = _ratio(outcome.busy_agent_seconds, staffed)
    errors: dict[str, dict[str, int]] = {}
    for (name, code), n in sorted(rec.errors.items()):
        errors.setdefault(name, {})[code] = n
    # Never the API key or TLS key material in a report: whether they were used, only.
    config = {
        f.name: getattr(cfg, f.name)
        for f in dataclasses.fields(cfg)
        if f.name not in ("token", "tls")
    }
    config["token"] = cfg.token is not None
    config["tls"] = cfg.tls is not None
    return {
        "target": cfg.target,
        "tenant": cfg.tenant,
        "config": config,
        "seconds": {
            "setup": outcome.setup_seconds,
            "arrivals": outcome.arrival_seconds,
            "drain": outcome.drain_seconds,
        },
        "drained": outcome.drained,
        "throughput": {
            "target_rate": cfg.rate,
            "sent_rate": _ratio(run.sent, outcome.arrival_seconds),
            # Enqueues acknowledged per second, until the last of them: a router that falls
            # behind acknowledges over a longer time than the arrivals took.
            "achieved_rate": _ratio(
                len(enqueued), max(outcome.arrival_seconds, outcome.ack_seconds)
            ),
        },
        "sent": run.sent,
        "skipped": run.skipped,
        "enqueued": len(enqueued),
        "enqueue_errors": enqueue_errors,
        "unacknowledged": run.sent - len(enqueued) - enqueue_errors,
        "offered": sum(1 for c in enqueued if c.offered),
        "answered": answered,
        "abandoned": abandoned,
        "waiting": waiting,
        "completed": completed,
        "in_service": answered - completed,
        "unfinished_calls": outcome.unfinished_calls,
        "service_level": measures.service_level(seen),
        "answered_within_sla": within_sla,
        "sla_seconds": cfg.sla_seconds,
        "asa_seconds": measures.average_speed_of_answer(seen),
        "abandonment_rate": measures.abandonment_rate(seen),
        "occupancy": occupancy,
        "busy_agent_seconds": outcome.busy_agent_seconds,
        "stream_events": run.stream_events,
        "behaviour": behaviour(run),
        "latency_ms": {
            "enqueue_to_offer": summary(rec.offer),
            "rpc": {name: summary(rec.rpc.get(name, [])) for name in RPCS},
        },
        "errors": errors,
        "errors_total": sum(rec.errors.values()),
    }


# --- the table --------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _num(value: float | None, fmt: str = ".2f") -> str:
    return "-" if value is None else format(value, fmt)


def _table(rows: list[list[str]]) -> list[str]:
    """Left-aligned first column, right-aligned numbers."""
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    return [
        "  ".join(
            cell.ljust(widths[k]) if k == 0 else cell.rjust(widths[k]) for k, cell in enumerate(r)
        ).rstrip()
        for r in rows
    ]


def _behaviour_lines(b: dict[str, Any]) -> list[str]:
    lines = [
        f"agents     rejects sent {b['rejects_sent']}, offers left to expire "
        f"{b['offers_left_to_expire']} (made ready again {b['agents_made_ready_again']})",
        f"customers  returning {b['returning_customers']}, CSAT given {b['csat_given']} "
        f"(mean {_num(b['csat_mean'])})",
    ]
    q = b["queues"]
    if q["mix"]:
        counts = ", ".join(f"{name} {n}" for name, n in q["enqueued"].items())
        lines.append(f"queues     enqueued {counts}")
        if q["note"]:
            lines.append(f"queues     {q['note']}")
    return lines


def format_report(r: dict[str, Any]) -> str:
    t, s = r["throughput"], r["seconds"]
    drained = "drained" if r["drained"] else f"not drained ({r['unfinished_calls']} calls cut)"
    lines = [
        f"loadgen: tenant {r['tenant']} on {r['target']}",
        f"arrivals   {s['arrivals']:.1f} s at {t['target_rate']:g}/s: sent {r['sent']} "
        f"({_num(t['sent_rate'], '.1f')}/s), acknowledged {r['enqueued']} "
        f"({_num(t['achieved_rate'], '.1f')}/s), errors {r['enqueue_errors']}, "
        f"skipped {r['skipped']}",
        f"drain      {s['drain']:.1f} s, {drained}",
        f"outcomes   offered {r['offered']}, answered {r['answered']}, abandoned "
        f"{r['abandoned']}, waiting {r['waiting']}, completed {r['completed']}",
        f"service    level {_pct(r['service_level'])} within {r['sla_seconds']:g} s, "
        f"ASA {_num(r['asa_seconds'], '.3f')} s, abandonment {_pct(r['abandonment_rate'])}, "
        f"occupancy {_pct(r['occupancy'])}",
        *_behaviour_lines(r["behaviour"]),
        "",
    ]
    header = ["latency (ms)", "count", *(name for name, _ in QUANTILES), "max"]
    rows = [header]
    named = [("enqueue -> offer", r["latency_ms"]["enqueue_to_offer"])]
    named += [(f"{name} RPC", figures) for name, figures in r["latency_ms"]["rpc"].items()]
    for label, figures in named:
        keys = [name for name, _ in QUANTILES] + ["max"]
        rows.append([label, str(figures["count"]), *(_num(figures[k]) for k in keys)])
    lines += _table(rows)
    lines.append("")
    if r["errors"]:
        rows = [["errors", "code", "count"]]
        for name, codes in r["errors"].items():
            rows += [[name, code, str(n)] for code, n in codes.items()]
        lines += _table(rows)
    else:
        lines.append("errors     none")
    return "\n".join(lines)
