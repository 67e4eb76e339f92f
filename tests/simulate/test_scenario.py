"""A scenario is read and validated; every refusal names the key."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from cim_router.domain.channel import Channel
from cim_router.simulate.scenario import ScenarioError, load_scenario, scenario_from_mapping

GOOD: dict[str, Any] = {
    "duration_hours": 2,
    "interval_minutes": 30,
    "agents": [
        {"count": 3, "skills": {"billing": 3}, "count_by_interval": [1, 2, 3, 3]},
        {"count": 2, "skills": {"billing": 1, "tech": 4}, "reject_probability": 0.1},
    ],
    "arrivals": [
        {
            "channel": "voice",
            "rate_per_hour": [10, 20, 30, 40],
            "required": {"billing": 1},
            "handle_time_mean_seconds": 200,
            "patience_mean_seconds": 60,
        },
        {
            "channel": "chat",
            "rate_per_hour": 5,
            "required": {"tech": 2},
            "handle_time_mean_seconds": 400,
            "handle_time_distribution": "lognormal",
            "handle_time_cv": 0.5,
            "handle_time_by_level": {"4": 0.8},
        },
    ],
}


def with_change(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(GOOD)
    target: Any = data
    for step in path[:-1]:
        target = target[step]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


def test_a_good_scenario_reads_with_its_values() -> None:
    s = scenario_from_mapping(GOOD)
    assert s.intervals == 4
    assert s.agents[0].on_duty(0) == 1 and s.agents[0].on_duty(3) == 3
    assert s.agents[1].on_duty(2) == 2
    assert s.arrivals[0].rate(2) == 30 and s.arrivals[1].rate(3) == 5
    assert s.arrivals[1].channel == Channel.CHAT
    assert s.arrivals[1].handle_time_by_level == {4: 0.8}
    assert s.arrivals[1].patience_mean_seconds is None
    assert s.channels == {Channel.VOICE, Channel.CHAT}


@pytest.mark.parametrize(
    ("path", "value", "key"),
    [
        (("duration_hours",), KeyError, "duration_hours"),
        (("duration_hours",), 0, "duration_hours"),
        (("shifts",), 1, "shifts"),
        (("agents",), [], "agents"),
        (("agents", 0, "count"), KeyError, "agents[0].count"),
        (("agents", 0, "count"), -1, "agents[0].count"),
        (("agents", 0, "skils"), {"a": 1}, "agents[0].skils"),
        (("agents", 1, "skills"), {"billing": 11}, "agents[1].skills"),
        (("agents", 0, "count_by_interval"), [1, 2], "agents[0].count_by_interval"),
        (("agents", 0, "count_by_interval"), [1, 2, 3, 4], "agents[0].count_by_interval"),
        (("agents", 1, "reject_probability"), 1.5, "agents[1].reject_probability"),
        (("agents", 1, "capacity"), {"email": 2}, "agents[1].capacity.email"),
        (("arrivals", 0, "channel"), "fax", "arrivals[0].channel"),
        (("arrivals", 0, "rate_per_hour"), [1, 2], "arrivals[0].rate_per_hour"),
        (("arrivals", 0, "rate_per_hour"), "fast", "arrivals[0].rate_per_hour"),
        (("arrivals", 0, "required"), KeyError, "arrivals[0].required"),
        (("arrivals", 0, "handle_time_mean_seconds"), 0, "arrivals[0].handle_time_mean_seconds"),
        (("arrivals", 0, "patience_mean_seconds"), -3, "arrivals[0].patience_mean_seconds"),
        (("arrivals", 0, "handle_time_cv"), 0.5, "arrivals[0].handle_time_cv"),
        (
            ("arrivals", 1, "handle_time_distribution"),
            "gamma",
            "arrivals[1].handle_time_distribution",
        ),
        (("arrivals", 1, "handle_time_by_level"), {"12": 1.0}, "arrivals[1].handle_time_by_level"),
        (("arrivals", 1, "rate"), 3, "arrivals[1].rate"),
    ],
)
def test_a_bad_key_is_named(path: tuple[Any, ...], value: Any, key: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        scenario_from_mapping(with_change(path, value))
    assert caught.value.key == key
    assert key in str(caught.value)


def test_a_file_that_is_not_toml_names_its_syntax(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("duration_hours = = 3\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(bad)
    assert caught.value.key == "(syntax)"
    with pytest.raises(ScenarioError) as missing:
        load_scenario(tmp_path / "none.toml")
    assert missing.value.key == "(file)"
