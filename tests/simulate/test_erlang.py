"""The simulator against queueing theory: single skill, FIFO, any free agent.

With infinite patience the router is M/M/n, and P(wait > 0) and the mean speed of answer
must agree with Erlang C; with exponential patience, abandonment with Erlang A. Agreement
means the formula's value lies in the simulation's 95% interval over replications (fixed
seeds: a run is reproducible). The long cases are `slow` (`pytest -m slow`)."""

from __future__ import annotations

import math

import pytest

from cim_router.simulate.erlang import (
    agents_for,
    erlang_a,
    erlang_b,
    erlang_c,
    erlang_c_asa,
    erlang_c_service_level,
)
from cim_router.simulate.results import Estimate
from tests.simulate.fifo import fifo_totals, single_skill


def inside(value: float, e: Estimate | None) -> bool:
    assert e is not None and e.ci is not None
    return abs(e.mean - value) <= e.ci


# --- the formulas -------------------------------------------------------------------------


def test_erlang_b_and_c_match_values_worked_by_hand() -> None:
    # B(1, a) = a / (1 + a); C(2, 1) = 1/3; C(1, a) = a (M/M/1).
    assert erlang_b(1, 2.0) == pytest.approx(2 / 3)
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert erlang_c(1, 0.7) == pytest.approx(0.7)
    assert erlang_c(5, 5.0) == 1.0
    # M/M/1: mean wait rho / (mu - lambda) = 0.7 * 10 / 0.3 for a 10 s handle time.
    assert erlang_c_asa(1, 0.7, 10.0) == pytest.approx(0.7 * 10 / 0.3)
    assert erlang_c_service_level(1, 0.5, 10.0, 0.0) == pytest.approx(0.5)


def test_erlang_a_tends_to_erlang_c_as_patience_grows() -> None:
    a = erlang_a(10, 8 / 300, 300.0, 1e9)
    assert a.p_wait == pytest.approx(erlang_c(10, 8.0), rel=1e-5)
    assert a.abandonment < 1e-6
    assert a.mean_wait_seconds == pytest.approx(erlang_c_asa(10, 8.0, 300.0), rel=1e-4)


def test_erlang_a_with_patience_as_long_as_service_is_an_infinite_server() -> None:
    # theta = mu: every customer leaves at the rate they would be served, waiting or not,
    # so the number in the system is Poisson(load) and P(wait) is its tail from n.
    n, load = 4, 3.0
    a = erlang_a(n, load / 100, 100.0, 100.0)
    tail = 1.0 - sum(math.exp(-load) * load**k / math.factorial(k) for k in range(n))
    assert a.p_wait == pytest.approx(tail, rel=1e-9)


def test_agents_for_is_the_fewest_that_meet_the_target() -> None:
    n = agents_for(100 / 3600, 300.0, 0.8, 20.0)
    load = 100 / 3600 * 300
    assert erlang_c_service_level(n, load, 300.0, 20.0) >= 0.8
    assert erlang_c_service_level(n - 1, load, 300.0, 20.0) < 0.8


# --- the simulator ------------------------------------------------------------------------


def test_a_small_centre_agrees_with_erlang_c() -> None:
    n, load, handle = 5, 4.0, 60.0
    totals = fifo_totals(single_skill(n, load, handle, 4.0, 0.5), replications=10)
    assert inside(erlang_c(n, load), totals["p_wait"])
    assert inside(erlang_c_asa(n, load, handle), totals["asa_seconds"])
    assert inside(load / n, totals["occupancy"])
    assert totals["abandonment"].mean == 0.0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("agents", "load", "replications"),
    [(10, 8.0, 20), (50, 45.0, 12), (100, 95.0, 12)],
)
def test_erlang_c_agreement(agents: int, load: float, replications: int) -> None:
    handle = 60.0
    totals = fifo_totals(single_skill(agents, load, handle, 3.0, 0.5), replications)
    assert inside(erlang_c(agents, load), totals["p_wait"])
    assert inside(erlang_c_asa(agents, load, handle), totals["asa_seconds"])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("agents", "load", "patience", "replications"),
    [(20, 19.0, 60.0, 12), (50, 48.0, 120.0, 10)],
)
def test_erlang_a_agreement(agents: int, load: float, patience: float, replications: int) -> None:
    handle = 60.0
    scenario = single_skill(agents, load, handle, 3.0, 0.5, patience=patience)
    totals = fifo_totals(scenario, replications)
    expected = erlang_a(agents, load / handle, handle, patience)
    assert inside(expected.abandonment, totals["abandonment"])
    assert inside(expected.p_wait, totals["p_wait"])
