"""The router's routing against longest-idle with FIFO, on the bench's multi-skill
scenarios (bench/scenarios/NAME.toml, each with the policy it runs, NAME.policy.toml), at
equal staffing and on common random numbers: bench/routing_tables.py has the comparison
and the four bars, bench/README.md the scenarios and the figures.

The full comparison (`REPLICATIONS` six-hour days of each scenario, both runs) is `slow`:
`pytest -m slow bench/test_bench_routing.py`. The default suite runs the first hour of
each scenario once, and checks what does not depend on how good the routing is: the
figures are there and in range, the queues' figures add up to the totals, both runs saw
the same customers, and the baseline is longest-idle."""

from __future__ import annotations

from typing import Any

import pytest

from bench.routing_tables import (
    BASELINE,
    POLICY,
    REPLICATIONS,
    SCENARIOS,
    Comparison,
    bars,
    compare,
    extra_info,
    load_bench,
    markdown,
)
from cim_router.simulate.baselines import IDLE_CAP_SECONDS
from cim_router.simulate.results import RunSummary


@pytest.mark.slow
@pytest.mark.parametrize("name", SCENARIOS)
def test_routing_beats_longest_idle(benchmark: Any, name: str) -> None:
    bench = load_bench(name)
    found: list[Comparison] = []

    def simulate() -> None:
        found.append(compare(bench, REPLICATIONS))

    benchmark.pedantic(simulate, rounds=1, iterations=1)
    c = found[-1]
    b = bars(c)
    benchmark.extra_info.update(extra_info(c, b))
    print()
    print(markdown(c))
    assert c.replications == REPLICATIONS
    assert b.failures() == []


def _pooled_service_level(run: RunSummary) -> float:
    """The service level of the queues' counts together (one replication)."""
    days = run.days
    assert len(days) == 1
    tallies = days[0].queue_tallies.values()
    counted = sum(t.answered + t.abandoned - t.short_abandoned for t in tallies)
    return sum(t.answered_in_sla for t in tallies) / counted


@pytest.mark.parametrize("name", SCENARIOS)
def test_an_hour_of_each_scenario(benchmark: Any, name: str) -> None:
    bench = load_bench(name, hours=1.0)
    found: list[Comparison] = []

    def simulate() -> None:
        found.append(compare(bench, 1))

    benchmark.pedantic(simulate, rounds=1, iterations=1)
    c = found[-1]
    b = bars(c)
    benchmark.extra_info.update(extra_info(c, b))

    # The baseline is the policy's queues and targets with longest-idle choice, FIFO.
    base = c.baseline_policy
    assert base.matching == "greedy" and base.aging_rate == 0 and base.relaxation == ()
    assert base.idle_cap_seconds == IDLE_CAP_SECONDS
    weights = vars(base.weights)
    assert weights.pop("idle") == 1.0 and set(weights.values()) == {0.0}
    assert (
        base.queues == bench.policy.queues and base.wrap_up_seconds == bench.policy.wrap_up_seconds
    )
    assert (c.policy.name, c.baseline.name) == (POLICY, BASELINE)
    assert c.policy.compared_with == BASELINE

    streams = list(dict.fromkeys(a.queue for a in bench.scenario.arrivals))
    for run in (c.policy, c.baseline):
        t = run.totals
        # Every queue of the scenario is reported, in the scenario's order.
        assert list(run.queues) == streams
        day = run.days[0]
        assert day.interactions > 300
        for fig in ("service_level", "abandonment", "occupancy"):
            e = t[fig]
            assert e is not None and 0.0 <= e.mean <= 1.0, fig
        occupancy = t["occupancy"]
        assert occupancy is not None and occupancy.mean > 0.5  # a loaded centre
        spread = t["occupancy_spread"]
        assert spread is not None and 0.0 <= spread.mean < 0.2
        # The queues' figures add up to the day's: counts, pooled service level, waits.
        assert sum(q.offered for q in day.queue_tallies.values()) == day.measured.offered
        assert sum(q.answered for q in day.queue_tallies.values()) == day.measured.answered
        assert sum(q.abandoned for q in day.queue_tallies.values()) == day.measured.abandoned
        level = t["service_level"]
        assert level is not None
        assert level.mean == pytest.approx(_pooled_service_level(run))
        waits = [figs["max_wait_seconds"] for figs in run.queues.values()]
        longest = t["max_wait_seconds"]
        assert longest is not None
        assert max(w.mean for w in waits if w is not None) == pytest.approx(longest.mean)
        for queue, figs in run.queues.items():
            q_level = figs["service_level"]
            assert q_level is not None and 0.0 <= q_level.mean <= 1.0, queue
    # Common random numbers: both runs saw the same customers, queue by queue.
    for queue, figs in c.policy.queues.items():
        assert figs["offered"] == c.baseline.queues[queue]["offered"], queue
    gain = b.service_level_gain
    assert gain is not None
    mine, theirs = c.policy.totals["service_level"], c.baseline.totals["service_level"]
    assert mine is not None and theirs is not None
    assert gain.mean == pytest.approx(mine.mean - theirs.mean)
    assert b.worst_queue in streams
    assert bench.bound_from == "policy"
    assert b.wait_bound_seconds is not None and b.wait_bound_seconds > 0
    assert "| service level % |" in markdown(c)
