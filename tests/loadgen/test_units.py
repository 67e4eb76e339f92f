"""The pieces without a server: arrivals, pacing, percentiles, the mix and the workload."""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import shlex
import statistics
import time
from pathlib import Path

import numpy as np
import pytest

from cim_router.cli import parser
from cim_router.domain.limits import MAX_WATCHED_AGENTS
from cim_router.loadgen import LoadConfig, pace, parse_mix, percentile, poisson_offsets, summary
from cim_router.loadgen.command import config_from
from cim_router.loadgen.recorder import Occupancy
from cim_router.loadgen.workload import Workload


def test_poisson_gaps_have_mean_one_over_rate() -> None:
    rate = 200.0
    times = list(itertools.islice(poisson_offsets(rate, random.Random(42)), 100_000))
    gaps = [b - a for a, b in itertools.pairwise([0.0, *times])]
    assert all(g > 0 for g in gaps)
    assert statistics.fmean(gaps) == pytest.approx(1 / rate, rel=0.01)
    # Exponential: the standard deviation equals the mean.
    assert statistics.pstdev(gaps) == pytest.approx(1 / rate, rel=0.02)


def test_poisson_offsets_repeat_with_a_seed() -> None:
    a = list(itertools.islice(poisson_offsets(50, random.Random(7)), 10))
    b = list(itertools.islice(poisson_offsets(50, random.Random(7)), 10))
    assert a == b
    with pytest.raises(ValueError):
        next(poisson_offsets(0, random.Random()))


def test_pace_is_open_loop_slow_replies_do_not_slow_arrivals() -> None:
    async def main() -> tuple[int, int, float]:
        pending: list[asyncio.Task[None]] = []

        def fire(n: int) -> None:  # every "reply" takes a second
            pending.append(asyncio.create_task(asyncio.sleep(1.0)))

        t0 = time.perf_counter()
        offsets = poisson_offsets(400, random.Random(1))
        fired = await pace(offsets, fire, duration=0.5, count=None)
        elapsed = time.perf_counter() - t0
        in_flight = sum(1 for t in pending if not t.done())
        for t in pending:
            t.cancel()
        return fired, in_flight, elapsed

    fired, in_flight, elapsed = asyncio.run(main())
    assert 150 <= fired <= 250  # 400/s for 0.5 s
    assert in_flight == fired  # none answered yet, and arrivals went on regardless
    assert 0.5 <= elapsed < 0.7


def test_pace_stops_at_count() -> None:
    fired: list[int] = []
    n = asyncio.run(
        pace(poisson_offsets(1000, random.Random(2)), fired.append, duration=None, count=25)
    )
    assert n == 25 and fired == list(range(25))


def test_percentile_nearest_rank() -> None:
    one_to_hundred = [float(k) for k in range(1, 101)]
    assert [percentile(one_to_hundred, q) for q in (0, 50, 90, 99, 99.9, 100)] == [
        1,
        50,
        90,
        99,
        100,
        100,
    ]
    thousand = [float(k) for k in range(1, 1001)]
    assert percentile(thousand, 99.9) == 999  # not 1000: 99.9 * 1000 / 100 rounds right
    assert percentile([3.0], 99.9) == 3.0
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_percentile_matches_numpy_inverted_cdf() -> None:
    # Not n = 1000 at 99.9: NumPy computes that rank as 999.0000000000001 and takes the 1000th.
    rng = np.random.default_rng(5)
    for n in (1, 2, 7, 100, 999, 12_345):
        values = sorted(rng.lognormal(0, 1, n).tolist())
        for q in (50, 90, 99, 99.9):
            expected = np.percentile(values, q, method="inverted_cdf")
            assert percentile(values, q) == pytest.approx(float(expected), rel=0, abs=0)


def test_summary_is_in_milliseconds_with_counts() -> None:
    s = summary([0.003, 0.001, 0.002, 0.004])
    assert s["count"] == 4
    assert (s["p50"], s["p90"], s["max"]) == pytest.approx((2.0, 4.0, 4.0))
    assert s["mean"] == pytest.approx(2.5)
    empty = summary([])
    assert empty["count"] == 0 and empty["p99"] is None


def test_channel_mix_parsing() -> None:
    assert parse_mix("chat=3, voice=1") == {"chat": 3.0, "voice": 1.0}
    assert parse_mix("email") == {"email": 1.0}
    for bad in ("fax=1", "chat=x", "chat=-1", "chat=0", ""):
        with pytest.raises(ValueError):
            parse_mix(bad)


def test_workload_draws_from_the_mix_and_covers_every_skill() -> None:
    cfg = LoadConfig(agents=40, skills=8, channels={"chat": 3, "voice": 1}, seed=3, handle_mean=2.0)
    w = Workload(cfg)
    agents = w.agents()
    held = {s for a in agents for s in a.skills}
    assert held == {f"skill-{k}" for k in range(8)}
    assert all(a.capacity["email"] == 0 and 2 <= int(a.capacity["chat"]) <= 3 for a in agents)
    channels = [w.interaction(n).channel for n in range(4000)]
    assert channels.count("chat") / len(channels) == pytest.approx(0.75, abs=0.03)
    handles = [w.handle_time() for _ in range(20_000)]
    assert statistics.fmean(handles) == pytest.approx(2.0, rel=0.03)
    patience = [w.patience() for _ in range(20_000)]
    assert statistics.fmean(patience) == pytest.approx(cfg.patience_mean, rel=0.03)


def test_occupancy_counts_shares_of_capacity_capped_at_one() -> None:
    occ = Occupancy()
    occ.change("a", 1 / 3, now=0.0)  # one chat of three
    occ.change("a", 1 / 3, now=3.0)  # two from t=3
    occ.change("b", 1.0, now=0.0)
    occ.change("b", 1.0, now=1.0)  # over capacity counts as fully busy, not more
    occ.change("b", -2.0, now=2.0)
    assert occ.busy_seconds(6.0) == pytest.approx(3 * (1 / 3) + 3 * (2 / 3) + 2.0)


def test_config_checks_its_bounds() -> None:
    for bad in (
        {"rate": 0},
        {"duration": None, "count": None},
        {"streams": 0},
        {"handle_distribution": "uniform"},
        {"channels": {"fax": 1.0}},
    ):
        with pytest.raises(ValueError):
            LoadConfig(**bad)


def test_readme_loadgen_example_parses() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", readme, flags=re.S)
    (text,) = [b for b in blocks if "cim-router loadgen" in b]
    lines = [line for line in text.replace("\\\n", " ").splitlines() if "loadgen" in line]
    assert lines
    for line in lines:
        args = parser().parse_args(shlex.split(line.split("#")[0])[1:])
        assert config_from(args).rate > 0


def test_agents_beyond_one_watch_take_more_streams() -> None:
    def streams(agents: int, asked: int = 1) -> int:
        return LoadConfig(agents=agents, streams=asked).stream_count

    # a stream follows the run's agents and its probe agent
    assert streams(MAX_WATCHED_AGENTS - 1) == 1
    assert streams(MAX_WATCHED_AGENTS) == 2
    assert streams(2 * MAX_WATCHED_AGENTS + 5) == 3
    assert streams(10, asked=4) == 4
