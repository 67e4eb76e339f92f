"""`--staff-for`: Erlang C's staffing per interval, corrected by simulation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cim_router.cli import main
from cim_router.simulate.erlang import agents_for
from cim_router.simulate.scenario import scenario_from_mapping
from cim_router.simulate.staffing import erlang_seed, parse_target, staff_for, with_staffing
from tests.simulate.fifo import FIFO

DAY = scenario_from_mapping(
    {
        "duration_hours": 2,
        "agents": [
            {"name": "a", "count": 6, "skills": {"general": 1}},
            {"name": "b", "count": 2, "skills": {"general": 1}},
        ],
        "arrivals": [
            {
                "channel": "voice",
                "rate_per_hour": [60, 150],
                "required": {"general": 1},
                "handle_time_mean_seconds": 120,
            }
        ],
    }
)


def test_targets_read_as_share_and_seconds() -> None:
    assert parse_target("0.8/20") == (0.8, 20.0)
    assert parse_target("90/30") == (0.9, 30.0)
    for bad in ("0.8", "x/20", "0.8/0", "0/20"):
        with pytest.raises(ValueError):
            parse_target(bad)


def test_staffing_is_shared_among_groups_by_size() -> None:
    s = with_staffing(DAY, [4, 9])
    assert [g.count_by_interval for g in s.agents] == [(3, 7), (1, 2)]
    assert [g.count for g in s.agents] == [7, 2]


def test_the_search_starts_from_erlang_c_and_meets_the_target() -> None:
    seed = erlang_seed(DAY, FIFO, 0.8, 20.0)
    assert seed == [agents_for(rate / 3600, 120.0, 0.8, 20.0) for rate in (60, 150)]
    rows = staff_for(DAY, FIFO, 0.8, 20.0, replications=4, seed=1)
    assert [r.erlang_c for r in rows] == seed
    for row in rows:
        assert row.service_level is not None and row.service_level.mean >= 0.8
        assert row.agents >= 1


def test_staff_for_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "day.toml"
    scenario.write_text(
        "duration_hours = 1\n[[agents]]\ncount = 3\nskills = { general = 1 }\n"
        '[[arrivals]]\nchannel = "voice"\nrate_per_hour = 40\nrequired = { general = 1 }\n'
        "handle_time_mean_seconds = 120\n"
    )
    argv = ["simulate", str(scenario), "--staff-for", "0.8/20", "--replications", "3"]
    assert main([*argv, "--json", "--quiet"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["target"] == 0.8 and data["seconds"] == 20.0
    (row,) = data["staffing"]
    # The default policy's 30 s of voice wrap-up is work too.
    assert row["erlang_c_agents"] == agents_for(40 / 3600, 150.0, 0.8, 20.0)
    assert row["service_level"] >= 0.8 and row["agents"] >= 1
