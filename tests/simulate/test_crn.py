"""Common random numbers: every run of a comparison sees the same customers; two runs of
the same policy are the same run; another seed is another day."""

from __future__ import annotations

import dataclasses

from cim_router.domain.channel import Channel
from cim_router.domain.policy import Policy, Weights
from cim_router.simulate.baselines import longest_idle
from cim_router.simulate.draws import customers
from cim_router.simulate.runner import Run, run_all
from tests.simulate.mixed import MIXED

POLICY = dataclasses.replace(Policy(), exclusion_seconds=30.0)


def test_identical_policies_give_identical_figures() -> None:
    runs = [Run("a", POLICY), Run("b", POLICY)]
    outcome = run_all(MIXED, runs, replications=3, seed=11)
    a, b = outcome.summaries
    assert a.per_day == b.per_day
    assert [d.tallies for d in a.days] == [d.tallies for d in b.days]
    # Their paired differences are exactly 0, with no spread.
    assert b.compared_with == "a"
    diff = b.differences["service_level"]
    assert diff is not None and diff.mean == 0.0 and diff.ci == 0.0


def test_every_policy_sees_the_same_customers() -> None:
    runs = [Run("policy", POLICY), Run("longest-idle", longest_idle(POLICY))]
    outcome = run_all(MIXED, runs, replications=2, seed=5, baseline="longest-idle")
    policy, baseline = outcome.summaries
    assert policy.per_day["interactions"] == baseline.per_day["interactions"]
    assert [d.measured.offered for d in policy.days] == [d.measured.offered for d in baseline.days]
    assert policy.compared_with == "longest-idle" and not baseline.compared_with


def test_draws_depend_on_seed_and_replication_only() -> None:
    same = customers(MIXED, 4, 1)
    assert same == customers(MIXED, 4, 1)
    assert same != customers(MIXED, 4, 2)
    assert same != customers(MIXED, 5, 1)
    times = [c.at for c in same]
    assert times == sorted(times)
    assert all(0 <= t < MIXED.duration_seconds for t in times)


def test_the_longest_idle_baseline_turns_every_routing_term_off() -> None:
    tuned = dataclasses.replace(
        POLICY,
        on_time_first=True,
        service_level_weight=9.0,
        aging_rate=30.0,
        weights=Weights(scarcity=2.0, skill=3.0),
        wait_bound_seconds={c: 60.0 for c in Channel},
    )
    base = longest_idle(tuned)
    w = base.weights
    assert (w.skill, w.preferred_skill, w.tier, w.handle_time, w.sticky) == (0, 0, 0, 0, 0)
    assert (w.urgency, w.scarcity, w.idle) == (0.0, 0.0, 1.0)
    assert (base.aging_rate, base.service_level_weight, base.on_time_first) == (0.0, 0.0, False)
    assert set(base.wait_bound_seconds.values()) == {0.0}
    assert base.relaxation == () and base.matching == "greedy"
    assert base.queues == tuned.queues and base.wrap_up_seconds == tuned.wrap_up_seconds
