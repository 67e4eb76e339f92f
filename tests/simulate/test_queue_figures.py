"""Figures per queue: the router's own tallies of each queue the arrivals are enqueued in
(work with no queue is in the default queue), which add up to the day's totals."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from cim_router.cli import main
from cim_router.domain.policy import Policy, policy_from_mapping
from cim_router.simulate.driver import Day
from cim_router.simulate.figures import DayFigures
from cim_router.simulate.results import day_queues, day_totals
from cim_router.simulate.runner import Run, run_all
from cim_router.simulate.scenario import Scenario, scenario_from_mapping
from cim_router.simulate.tracking import Fate

TARGETS = {"easy": 10.0, "hard": 60.0}
POLICY = policy_from_mapping(
    {
        "relaxation": [],
        "queues": {
            "easy": {"channels": ["voice"], "service_level": {"seconds": 10, "share": 0.9}},
            "hard": {"channels": ["voice"], "service_level": {"seconds": 60, "share": 0.7}},
        },
    }
)


def _stream(skill: str, queue: str | None, rate: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "channel": "voice",
        "rate_per_hour": rate,
        "required": {skill: 1},
        "handle_time_mean_seconds": 180,
        "patience_mean_seconds": 120,
    }
    if queue is not None:
        out["queue"] = queue
    return out


# "easy": 2.25 erlangs for 5 agents; "hard": 2.7 erlangs for 3 agents.
TWO_QUEUES = scenario_from_mapping(
    {
        "duration_hours": 4,
        "warmup_minutes": 30,
        "agents": [
            {"name": "easy", "count": 5, "skills": {"easy": 1}},
            {"name": "hard", "count": 3, "skills": {"hard": 1}},
        ],
        "arrivals": [_stream("easy", "easy", 45), _stream("hard", "hard", 54)],
    }
)


def _v(x: float | None) -> float:
    assert x is not None
    return x


async def _day(scenario: Scenario, policy: Policy) -> tuple[DayFigures, list[Fate]]:
    day = Day(scenario, policy, 3, 0)
    try:
        figures = await day.run()
    finally:
        await day.tenants.stop()
    return figures, list(day.fates.values())


def _service_level(fates: list[Fate], short: float, target: float, since: float) -> float:
    """Answered within `target` over answered plus abandoned, short abandons left out, of
    the answers and abandons from `since` on (as the router counts them: when they
    happen), from the simulator's record of each customer (not the router's tallies)."""
    within = counted = 0
    for f in fates:
        if f.answered_at is not None:
            if f.answered_at >= since:
                counted += 1
                within += f.answered_at - f.at <= target
        elif f.left_at is not None and f.left_at >= since and f.left_at - f.at >= short:
            counted += 1
    return within / counted


def test_each_queue_has_its_own_service_level_against_its_own_target() -> None:
    figures, fates = asyncio.run(_day(TWO_QUEUES, POLICY))
    queues = day_queues(figures)
    assert list(queues) == ["easy", "hard"]
    for queue, target in TARGETS.items():
        mine = [f for f in fates if f.customer.stream == list(TARGETS).index(queue)]
        since = TWO_QUEUES.warmup_minutes * 60
        expected = _service_level(mine, POLICY.short_abandon_seconds, target, since)
        assert queues[queue]["service_level"] == pytest.approx(expected)
        assert queues[queue]["answered"] == sum((f.answered_at or -1) >= since for f in mine)
        mine = [f for f in mine if f.measured]
        assert queues[queue]["offered"] == len(mine)
        longest = max(
            (f.answered_at or f.left_at or figures.simulated_seconds) - f.at for f in mine
        )
        assert queues[queue]["max_wait_seconds"] == pytest.approx(longest)
    easy, hard = queues["easy"], queues["hard"]
    assert _v(easy["service_level"]) > 0.85 > 0.75 > _v(hard["service_level"])
    assert _v(hard["abandoned"]) > 5 * max(1.0, _v(easy["abandoned"]))
    assert _v(hard["asa_seconds"]) > 5 * _v(easy["asa_seconds"])


def test_the_queues_add_up_to_the_totals() -> None:
    figures, _ = asyncio.run(_day(TWO_QUEUES, POLICY))
    queues = day_queues(figures)
    totals = day_totals(figures)
    tallies = list(figures.queue_tallies.values())
    for count in ("offered", "answered", "abandoned"):
        both = _v(queues["easy"][count]) + _v(queues["hard"][count])
        assert both == getattr(figures.measured, count)
    assert sum(t.answered_in_sla for t in tallies) == figures.measured.answered_in_sla
    assert sum(t.wait_seconds for t in tallies) == pytest.approx(figures.measured.wait_seconds)
    # The day's service level is the queues' pooled: between theirs, weighted by counts.
    levels = [_v(q["service_level"]) for q in queues.values()]
    assert min(levels) < _v(totals["service_level"]) < max(levels)
    longest = max(_v(q["max_wait_seconds"]) for q in queues.values())
    assert totals["max_wait_seconds"] == longest
    assert figures.measured.offered == figures.interactions  # no transfer, no overflow


def test_work_with_no_queue_is_the_default_queues_and_a_rules_target_comes_after() -> None:
    policy = policy_from_mapping(
        {
            "queues": {
                "sales": {
                    "overflow": [
                        {
                            "name": "spill",
                            "when": "waited",
                            "threshold": 15,
                            "then": "move",
                            "queue": "backup",
                        }
                    ]
                },
                "backup": {},
            }
        }
    )
    scenario = scenario_from_mapping(
        {
            "duration_hours": 2,
            "agents": [{"count": 3, "skills": {"general": 1}}],
            "arrivals": [_stream("general", "sales", 40), _stream("general", None, 20)],
        }
    )
    figures, fates = asyncio.run(_day(scenario, policy))
    queues = day_queues(figures)
    assert list(queues) == ["sales", "default", "backup"]
    moved = figures.queue_tallies["sales"].overflowed
    assert moved > 5
    assert queues["backup"]["offered"] == moved  # moved in: offered there too
    assert queues["backup"]["max_wait_seconds"] is None  # no stream enqueues in it
    assert queues["default"]["offered"] == sum(f.customer.stream == 1 for f in fates)
    assert queues["sales"]["offered"] == sum(f.customer.stream == 0 for f in fates)


def test_per_queue_intervals_and_paired_differences_over_replications() -> None:
    runs = [Run("tuned", POLICY), Run("same", POLICY)]
    outcome = run_all(TWO_QUEUES, runs, 3, 5, baseline="same")
    tuned, same = outcome.summaries
    for queue in TARGETS:
        level = tuned.queues[queue]["service_level"]
        assert level is not None and level.n == 3 and level.ci is not None and level.ci > 0
        diff = tuned.queue_differences[queue]["service_level"]
        # The same policy on the same draws: the same figures, day by day.
        assert diff is not None and diff.mean == 0 and diff.ci == 0
        assert tuned.per_day_queues[queue] == same.per_day_queues[queue]
    assert same.queue_differences == {}


SCENARIO = """
duration_hours = 1
interval_minutes = 30

[[agents]]
name = "a"
count = 3
skills = { alpha = 2 }

[[agents]]
name = "b"
count = 2
skills = { beta = 2, alpha = 1 }

[[arrivals]]
channel = "voice"
queue = "alpha"
rate_per_hour = 40
required = { alpha = 1 }
handle_time_mean_seconds = 180
patience_mean_seconds = 120

[[arrivals]]
channel = "voice"
rate_per_hour = 30
required = { beta = 1 }
handle_time_mean_seconds = 180
patience_mean_seconds = 120
"""

QUEUES = """
[queues.alpha]
channels = ["voice"]
service_level = { seconds = 30, share = 0.8 }
"""


def test_json_and_table_show_each_queue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario, policy = tmp_path / "day.toml", tmp_path / "queues.toml"
    scenario.write_text(SCENARIO)
    policy.write_text(QUEUES)
    argv = ["simulate", str(scenario), "--policy", str(policy), "--baseline", "longest-idle"]
    assert main([*argv, "--replications", "3", "--json", "--quiet"]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    mine, base = runs
    for run in runs:
        assert list(run["queues"]) == ["alpha", "default"]
        for figs in run["queues"].values():
            for fig in ("service_level", "asa_seconds", "abandonment", "max_wait_seconds"):
                assert isinstance(figs[fig], int | float) and isinstance(
                    figs[f"{fig}_ci"], int | float
                )
            for count in ("offered", "answered", "abandoned"):
                assert figs[count] >= 0
            assert 0 <= figs["service_level"] <= 1
        offered = sum(q["offered"] for q in run["queues"].values())
        assert offered == pytest.approx(run["interactions"])
    diff = mine["difference"]["queues"]
    assert list(diff) == ["alpha", "default"]
    for queue, d in diff.items():
        expected = mine["queues"][queue]["service_level"] - base["queues"][queue]["service_level"]
        assert d["service_level"] == pytest.approx(expected, abs=1e-5)
        assert d["offered"] == 0 and d["offered_ci"] == 0  # the same customers
    assert "difference" not in base
    assert main([*argv, "--replications", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    for row in ("alpha service level %", "default service level %", "alpha longest wait s"):
        assert row in out
