"""The queue model's rules: one queue's fields, moves naming queues that exist, and no
cycle of moves without a way out."""

from __future__ import annotations

import pytest

from cim_router.domain.errors import ValidationError
from cim_router.domain.interaction import SkillRequirement
from cim_router.domain.queues import (
    Membership,
    OverflowRule,
    Queue,
    ServiceLevelTarget,
    Then,
    When,
    check_profile,
    check_queue,
    check_queues,
    trapped_cycle,
)


def move(name: str, to: str, after: float = 60.0) -> OverflowRule:
    return OverflowRule(name, When.WAITED, Then.MOVE, threshold=after, queue=to)


def end(name: str) -> OverflowRule:
    return OverflowRule(name, When.CLOSED, Then.END, disposition="closed")


def queues(*qs: Queue) -> dict[str, Queue]:
    return {q.id: q for q in qs}


def test_a_chain_of_moves_ending_somewhere_is_fine() -> None:
    check_queues(
        queues(
            Queue("sales", overflow=(move("to-b", "billing"),)),
            Queue("billing", overflow=(move("to-v", "voicemail"),)),
            Queue("voicemail", overflow=(end("close"),)),
        )
    )


def test_a_cycle_with_an_end_or_an_exit_is_fine() -> None:
    check_queues(
        queues(
            Queue("a", overflow=(move("a-b", "b"),)),
            Queue("b", overflow=(move("b-a", "a"), end("late"))),
        )
    )
    check_queues(
        queues(
            Queue("a", overflow=(move("a-b", "b"),)),
            Queue("b", overflow=(move("b-a", "a"), move("b-c", "c"))),
            Queue("c"),
        )
    )


def test_a_cycle_with_no_way_out_is_refused() -> None:
    qs = queues(
        Queue("a", overflow=(move("a-b", "b"),)),
        Queue("b", overflow=(move("b-c", "c"),)),
        Queue("c", overflow=(move("c-a", "a"),)),
    )
    assert trapped_cycle(qs) == ["a", "b", "c"]
    with pytest.raises(ValidationError) as refused:
        check_queues(qs)
    assert refused.value.field == "queues.a.overflow"
    assert "a -> b -> c -> a" in refused.value.reason
    with pytest.raises(ValidationError):
        check_queues(queues(Queue("self", overflow=(move("again", "self"),))))


def test_a_move_to_a_queue_that_does_not_exist_is_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        check_queues(queues(Queue("a", overflow=(move("lost", "nowhere"),))))
    assert refused.value.field == "queues.a.overflow[0].queue"


@pytest.mark.parametrize(
    ("queue", "field"),
    [
        (Queue(""), "queue.id"),
        (Queue("q", priority=101), "queue.priority"),
        (Queue("q", service_level=ServiceLevelTarget(0, 0.8)), "queue.service_level.seconds"),
        (Queue("q", service_level=ServiceLevelTarget(20, 1.5)), "queue.service_level.share"),
        (Queue("q", max_size=-1), "queue.max_size"),
        (Queue("q", required=(SkillRequirement("x", 11),)), "queue.required[0].min_level"),
        (
            Queue("q", overflow=(OverflowRule("e", When.CLOSED, Then.END),)),
            "queue.overflow[0].disposition",
        ),
        (
            Queue("q", overflow=(OverflowRule("p", When.WAITED, Then.RAISE_PRIORITY),)),
            "queue.overflow[0].priority",
        ),
        (
            Queue("q", overflow=(OverflowRule("s", When.WAITED, Then.ADD_SKILLS),)),
            "queue.overflow[0].skills",
        ),
    ],
)
def test_a_bad_queue_is_refused_naming_the_field(queue: Queue, field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        check_queue(queue)
    assert refused.value.field == field


def test_profiles_bound_priority_and_delay() -> None:
    check_profile({"sales": Membership(10, 0.0), "billing": Membership(1, 30.0)})
    with pytest.raises(ValidationError) as refused:
        check_profile({"sales": Membership(11)})
    assert refused.value.field == "profile['sales'].priority"
    with pytest.raises(ValidationError) as refused:
        check_profile({"sales": Membership(5, -1.0)})
    assert refused.value.field == "profile['sales'].delay_seconds"
