"""Load runs against a real router: the report adds up, runs stop by themselves, customers
abandon when nobody answers, and the CLI prints JSON, tables and progress lines."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from cim_router.cli import main
from cim_router.domain.limits import MAX_WATCHED_AGENTS
from cim_router.loadgen import LoadConfig, run_load
from cim_router.loadgen.percentiles import QUANTILES
from cim_router.loadgen.recorder import RPCS


def load(target: str, **kw: Any) -> dict[str, Any]:
    kw.setdefault("progress", False)
    report: dict[str, Any] = asyncio.run(run_load(LoadConfig(target=target, **kw)))
    return report


def check_consistent(r: dict[str, Any]) -> None:
    """What must hold in any report."""
    assert r["sent"] == r["enqueued"] + r["enqueue_errors"] + r["unacknowledged"]
    assert r["offered"] <= r["enqueued"]
    assert r["answered"] + r["abandoned"] + r["waiting"] == r["enqueued"]
    assert r["completed"] + r["in_service"] == r["answered"]
    summaries = [r["latency_ms"]["enqueue_to_offer"], *r["latency_ms"]["rpc"].values()]
    for s in summaries:
        if s["count"]:
            figures = [s[name] for name, _ in QUANTILES] + [s["max"]]
            assert figures == sorted(figures)
            assert figures[0] > 0
    assert r["latency_ms"]["enqueue_to_offer"]["count"] == r["offered"]
    assert r["latency_ms"]["rpc"]["Enqueue"]["count"] == r["enqueued"]
    assert r["latency_ms"]["rpc"]["Accept"]["count"] == r["answered"]
    assert r["latency_ms"]["rpc"]["Cancel"]["count"] == r["abandoned"]
    assert r["errors_total"] == sum(n for codes in r["errors"].values() for n in codes.values())
    if r["occupancy"] is not None:
        assert 0.0 <= r["occupancy"] <= 1.0
    if r["service_level"] is not None:
        assert 0.0 <= r["service_level"] <= 1.0


def test_short_run_adds_up_and_stops_by_itself(target: str) -> None:
    t0 = time.perf_counter()
    r = load(
        target,
        rate=50,
        duration=2.0,
        agents=20,
        handle_mean=0.2,
        patience_mean=60,
        grace=5.0,
        seed=11,
    )
    wall = time.perf_counter() - t0
    check_consistent(r)
    assert r["tenant"].startswith("loadgen-")
    # The run lasts its duration; a busy machine may stall the loop's last wake-up a little.
    assert 2.0 <= r["seconds"]["arrivals"] < 2.5
    assert wall < r["seconds"]["setup"] + 2.0 + 5.0 + 1.0  # duration + grace, and closing
    assert r["drained"] and r["unfinished_calls"] == 0
    assert r["errors"] == {}
    assert 60 <= r["sent"] <= 140  # Poisson at 50/s for 2 s
    assert r["enqueued"] == r["sent"] and r["skipped"] == 0
    # 60 chat/voice slots for 50/s x 0.2 s: nearly everyone is answered at once.
    assert r["offered"] >= 0.9 * r["enqueued"]
    assert r["answered"] >= 0.9 * r["enqueued"]
    assert r["waiting"] == 0 and r["in_service"] == 0
    assert r["completed"] == r["answered"]
    assert r["service_level"] == 1.0
    assert 0 < r["asa_seconds"] < 1.0
    assert 0 < r["occupancy"] < 1.0
    arrivals = r["seconds"]["arrivals"]
    assert r["enqueued"] / (arrivals + 1.0) < r["throughput"]["achieved_rate"]
    assert r["throughput"]["achieved_rate"] <= r["enqueued"] / arrivals
    assert set(r["latency_ms"]["rpc"]) == set(RPCS)


def test_count_bounds_the_run(target: str) -> None:
    r = load(target, rate=200, count=30, duration=None, agents=10, handle_mean=0.05, seed=2)
    check_consistent(r)
    assert r["sent"] == r["enqueued"] == 30
    assert r["seconds"]["arrivals"] < 1.0  # 30 arrivals at 200/s, no waiting for a duration
    assert r["drained"] and r["completed"] == r["answered"]


def test_without_agents_every_customer_abandons(target: str) -> None:
    t0 = time.perf_counter()
    r = load(
        target, rate=100, count=20, duration=None, agents=0, patience_mean=0.1, grace=5.0, seed=4
    )
    check_consistent(r)
    assert r["enqueued"] == 20
    assert r["abandoned"] == 20 and r["abandonment_rate"] == 1.0
    assert r["answered"] == r["offered"] == r["waiting"] == 0
    # Nobody answered, everyone abandoned: a service level of 0 (abandons count against
    # it, docs/measures.md), and no occupancy without agents.
    assert r["service_level"] == 0.0 and r["occupancy"] is None
    assert r["latency_ms"]["rpc"]["Cancel"]["count"] == 20
    assert r["drained"] and time.perf_counter() - t0 < 5.0


def test_runs_on_separate_tenants_do_not_mix(target: str) -> None:
    def run() -> dict[str, Any]:
        return load(
            target,
            rate=100,
            count=10,
            duration=None,
            agents=2,
            skills=2,
            handle_mean=0.05,
            patience_mean=60,
            seed=9,
        )

    a, b = run(), run()
    assert a["tenant"] != b["tenant"]
    for r in (a, b):  # same seed, same ids: each tenant sees only its own
        assert r["errors"] == {} and r["drained"]
        assert r["enqueued"] == r["completed"] + r["abandoned"] == 10


def test_cli_prints_json(target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "report.json"
    argv = [
        "loadgen",
        "--target",
        target,
        "--rate",
        "100",
        "--count",
        "25",
        "--agents",
        "5",
        "--channels",
        "chat=3,email=1",
        "--skills",
        "3",
        "--handle-mean",
        "0.05",
        "--patience-mean",
        "20",
        "--seed",
        "5",
        "--quiet",
        "--json",
        "--json-out",
        str(out_file),
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    r = json.loads(captured.out)
    assert captured.err == ""  # --quiet
    assert r == json.loads(out_file.read_text())
    check_consistent(r)
    assert r["sent"] == 25 and r["config"]["channels"] == {"chat": 3.0, "email": 1.0}
    assert r["config"]["seed"] == 5 and r["config"]["skills"] == 3


def test_cli_table_and_progress_lines(target: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "loadgen",
        "--target",
        target,
        "--rate",
        "40",
        "--duration",
        "2.2",
        "--agents",
        "10",
        "--handle-mean",
        "0.1",
        "--grace",
        "3",
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    progress = captured.err.splitlines()
    pattern = re.compile(
        r"loadgen +\d+\.\ds (running|draining)  sent \d+  rate [\d.]+/s  in flight \d+  "
        r"open \d+  p99 enqueue->offer ([\d.]+ ms|-) \(\d+\)"
    )
    assert len(progress) >= 2 and all(pattern.fullmatch(line) for line in progress), progress
    table = captured.out.splitlines()
    assert table[0].startswith("loadgen: tenant loadgen-")
    header = next(k for k, line in enumerate(table) if line.startswith("latency (ms)"))
    assert table[header].split() == [
        "latency",
        "(ms)",
        "count",
        "p50",
        "p90",
        "p99",
        "p99.9",
        "max",
    ]
    labels = [line.split("  ")[0].strip() for line in table[header + 1 : header + 6]]
    assert labels == ["enqueue -> offer", "Enqueue RPC", "Accept RPC", "Complete RPC", "Cancel RPC"]
    assert table[-1] == "errors     none"


def test_cli_usage_errors_exit_2(target: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["loadgen", "--target", target, "--channels", "fax=1"])
    assert exc.value.code == 2
    assert main(["loadgen", "--target", target, "--rate", "0", "--count", "1"]) == 2
    assert "rate" in capsys.readouterr().err


def test_more_agents_than_one_watch_may_name_are_spread_over_streams(target: str) -> None:
    # One stream may follow MAX_WATCHED_AGENTS agents; the run asks for one stream and
    # gets as many as its agents (and its probe agent) need, so every offer is seen.
    r = load(
        target,
        rate=100,
        count=20,
        duration=None,
        agents=MAX_WATCHED_AGENTS,
        handle_mean=0.05,
        patience_mean=60,
        grace=5.0,
        seed=21,
    )
    check_consistent(r)
    assert r["errors_total"] == 0, r["errors"]
    assert r["offered"] == r["enqueued"] == 20
    assert r["completed"] == 20
