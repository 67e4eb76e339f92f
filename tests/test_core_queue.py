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


def test_next_relaxation_due_is_the_earliest_step_still_ahead(make_core: MakeCore) -> None:
    core = make_core()  # default steps: 30 s and 90 s
    steps = core.params.relax_after
    assert core.next_relaxation_due(0.0) is None
    core.add_interaction("early", 2, [(0, 5)], [], 0.0, 0.0, 1, 0, 60.0, 100.0)
    core.add_interaction("late", 2, [(0, 5)], [], 0.0, 0.0, 1, 0, 60.0, 110.0)
    expected = sorted(t + a for t in (100.0, 110.0) for a in steps)
    now = 100.0
    for due in expected:
        assert core.next_relaxation_due(now) == due
        now = due
    assert core.next_relaxation_due(now) is None
    core.add_interaction("new", 2, [(0, 5)], [], 0.0, 0.0, 1, 0, 60.0, now)
    core.remove_interaction("new")
    assert core.next_relaxation_due(now) is None


def test_agents_with_room_counts_available_agents_with_spare_capacity(
    make_core: MakeCore,
) -> None:
    core = make_core()
    caps = [1, 1, 3, 3, 3, 5]
    core.upsert_agent("free", 1, [], caps, 1, [0] * 6, 0.0)
    core.upsert_agent("busy-voice", 1, [], caps, 1, [1, 0, 0, 0, 0, 0], 0.0)
    core.upsert_agent("two-chats", 1, [], caps, 1, [0, 0, 2, 0, 0, 0], 0.0)
    core.upsert_agent("away", 1, [], caps, 2, [0] * 6, 0.0)
    # Voice is exclusive by default: an agent on a call has no room for anything.
    assert core.agents_with_room() == 2
    core.set_agent_load("two-chats", 2, 3)  # chats full, but email still has room
    assert core.agents_with_room() == 2
    core.set_agent_state("free", 2, 0.0)
    assert core.agents_with_room() == 1
