"""The measures, each from its definition, on hand-counted tallies."""

from __future__ import annotations

import pytest

from cim_router.tenant.measures import Tally, measures, occupancy


def test_measures_of_a_hand_counted_tally() -> None:
    t = Tally(
        offered=10,
        answered=7,
        answered_in_sla=5,
        wait_seconds=70.0,
        abandoned=3,
        short_abandoned=1,
        handled=6,
        handle_seconds=1200.0,
        wrap_seconds=60.0,
        transferred=2,
        csat_count=4,
        csat_sum=17,
        contacts=8,
        repeats=2,
    )
    m = measures(t)
    assert m["service_level"] == pytest.approx(5 / (7 + 3 - 1))
    assert m["average_speed_of_answer"] == pytest.approx(10.0)
    assert m["average_handle_time"] == pytest.approx(1260.0 / 6)
    assert m["abandonment_rate"] == pytest.approx((3 - 1) / (10 - 1))
    assert m["transfer_rate"] == pytest.approx(2 / 6)
    assert m["csat_mean"] == pytest.approx(17 / 4)
    assert m["first_contact_resolution"] == pytest.approx(1 - 2 / 8)


def test_nothing_measured_is_none_not_a_perfect_score() -> None:
    assert all(value is None for value in measures(Tally()).values())
    assert occupancy(0, 0) is None and occupancy(3, 12) == 0.25


def test_tallies_add_up() -> None:
    a, b = Tally(offered=2, answered=1, wait_seconds=3.0), Tally(offered=1, csat_sum=5)
    total = Tally().add(a).add(b)
    assert (total.offered, total.answered, total.wait_seconds, total.csat_sum) == (3, 1, 3.0, 5)
