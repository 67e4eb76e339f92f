"""Queue position: the 1-based place in service order, without sorting the queue."""

from __future__ import annotations

import random

import pytest

from tests.conftest import MakeCore


def test_position_matches_service_order(make_core: MakeCore) -> None:
    core = make_core()
    rng = random.Random(5)
    for k in range(300):
        core.add_interaction(
            f"i{k}",
            rng.randrange(6),
            [],
            [],
            float(rng.choice((0, 10, 50))),
            0.0,
            1,
            0,
            rng.choice((20.0, 60.0)),
            float(rng.randint(0, 50)),
        )
    for k in range(0, 300, 7):
        core.remove_interaction(f"i{k}")
    for now in (50.0, 75.0, 500.0):
        order = core.queue_order(now)
        assert len(order) == core.waiting_count()
        for place, iid in enumerate(order, start=1):
            assert core.queue_position(iid, now) == place


def test_position_of_unknown_id_is_a_key_error(make_core: MakeCore) -> None:
    with pytest.raises(KeyError):
        make_core().queue_position("nope", 0.0)
