"""`cim-router simulate` end to end: the table, `--json` as documented, `--plot`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cim_router.cli import main

SCENARIO = """
duration_hours = 1
interval_minutes = 30

[[agents]]
name = "team"
count = 4
skills = { general = 2 }

[[arrivals]]
channel = "voice"
rate_per_hour = [30, 50]
required = { general = 1 }
handle_time_mean_seconds = 240
patience_mean_seconds = 120
"""

POLICY = """
offer_timeout_seconds = 10
[weights]
idle = 1.0
"""

FIGURES = (
    "service_level",
    "asa_seconds",
    "p_wait",
    "abandonment",
    "occupancy",
    "max_wait_seconds",
    "interactions",
)


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    scenario = tmp_path / "day.toml"
    scenario.write_text(SCENARIO)
    policy = tmp_path / "tuned.toml"
    policy.write_text(POLICY)
    return scenario, policy


def test_json_has_one_run_per_policy_then_the_baseline(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario, policy = files
    png = tmp_path / "day.png"
    argv = ["simulate", str(scenario), "--policy", str(policy), "--baseline", "longest-idle"]
    argv += ["--replications", "3", "--seed", "2", "--json", "--plot", str(png)]
    assert main(argv) == 0
    out = capsys.readouterr()
    data = json.loads(out.out)
    assert [run["name"] for run in data["runs"]] == ["tuned", "longest-idle"]
    for run in data["runs"]:
        for fig in FIGURES:
            assert isinstance(run[fig], int | float), fig
            assert isinstance(run[f"{fig}_ci"], int | float), fig
        assert 0 <= run["service_level"] <= 1 and 0 <= run["occupancy"] <= 1
        assert len(run["intervals"]) == 2
        assert run["groups"]["team"]["occupancy"] == pytest.approx(run["occupancy"])
        for iv in run["intervals"]:  # one group: its occupancy is the interval's
            assert iv["groups"]["team"]["occupancy"] == pytest.approx(iv["occupancy"], abs=1e-5)
    tuned, baseline = data["runs"]
    assert tuned["interactions"] == baseline["interactions"]  # the same customers
    assert tuned["difference"]["against"] == "longest-idle"
    assert tuned["difference"]["service_level"] == pytest.approx(
        tuned["service_level"] - baseline["service_level"], abs=1e-5
    )
    assert "replication 3/3" in out.err  # progress on stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_table_shows_runs_side_by_side(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    scenario, _ = files
    argv = ["simulate", str(scenario), "--baseline", "random", "--replications", "2"]
    assert main([*argv, "--quiet", "--intervals"]) == 0
    out = capsys.readouterr().out
    assert "random" in out and "service level %" in out and "per interval" in out
    assert main([*argv, "--quiet"]) == 0


def test_a_bad_scenario_is_refused_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(SCENARIO.replace("count = 4", "count = 4\nskils = 1"))
    assert main(["simulate", str(bad)]) == 2
    assert "agents[0].skils: unknown key" in capsys.readouterr().err


def test_ctrl_c_prints_what_was_simulated_so_far(tmp_path: Path) -> None:
    long_day = tmp_path / "long.toml"
    long_day.write_text(
        SCENARIO.replace("duration_hours = 1", "duration_hours = 200")
        .replace("interval_minutes = 30", "interval_minutes = 1440")
        .replace("rate_per_hour = [30, 50]", "rate_per_hour = 50")
    )
    argv = [sys.executable, "-m", "cim_router.cli", "simulate", str(long_day), "--json"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    assert proc.stderr.readline().startswith("simulating")  # under way, Ctrl-C handled
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    data = json.loads(out)
    assert data["interrupted"] is True
    (run,) = data["runs"]
    assert 0 < run["interactions"] < 200 * 50  # part of the first day, not all of it
