"""Score terms, incremental updates of the index, and argument checking, on both
implementations."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from cim_router._core_common import (
    ELIGIBLE,
    EXCLUDED,
    MAX_ESCALATION_TIERS,
    MAX_RELAX_STEPS,
    N_CHANNELS,
    NO_CAPACITY,
    NOT_AVAILABLE,
    SKILL_LEVEL,
    SKILL_MISSING,
    STATE_AVAILABLE,
    TIER,
)
from cim_router._core_py import Core
from cim_router.domain import (
    Channel,
    Policy,
    RelaxationStep,
)
from cim_router.routing.engine import joint_assignment

if TYPE_CHECKING:
    from tests.conftest import MakeCore
from tests.core_rules import (
    BAD_AGENT_ARGS,
    BAD_INTERACTION_ARGS,
    CHAT,
    DEFAULT_CAPS,
    EMAIL,
    NO_LOAD,
    NOT_READY,
    RELAXING,
    UNKNOWN_ID_CALLS,
    VOICE,
    add_agent,
    add_interaction,
    with_load,
)

# --- score terms -----------------------------------------------------------------------------


def test_score_terms_follow_the_rules(make_core: MakeCore) -> None:
    policy = Policy()
    core = make_core(policy)
    ref = policy.handle_time_reference_seconds
    seed = policy.handle_time_seconds[Channel.CHAT]
    add_agent(core, "a", skills=((0, 6), (1, 3), (2, 9)), tier=2, idle_since=100.0)
    add_interaction(
        core,
        "i",
        required=((0, 1), (1, 1)),
        preferred=((2, 1), (3, 1)),
        target_tier=4,
        preferred_agent="a",
        enqueued_at=395.0,
    )
    add_interaction(core, "none", required=(), enqueued_at=395.0)
    now = 400.0
    skill, pref, tier, idle, aht, sticky, scarcity, total = core.score_terms("i", "a", now)
    assert skill == pytest.approx((6 + 3) / 20)
    assert pref == pytest.approx((9 + 0) / 20)
    assert tier == pytest.approx(1.0 - 2 / 4)
    assert idle == pytest.approx(300.0 / policy.idle_cap_seconds)
    assert aht == pytest.approx(ref / (ref + seed))
    assert sticky == 1.0
    assert scarcity == 1.0  # its other skill (2) is needed by no work
    w = policy.weights
    assert total == pytest.approx(
        w.skill * skill
        + w.preferred_skill * pref
        + w.tier * tier
        + w.idle * idle
        + w.handle_time * aht
        + w.sticky * sticky
        + w.scarcity * scarcity
    )
    assert core.score_terms("none", "a", now)[0] == 1.0
    assert core.score_terms("none", "a", now)[5] == 0.0
    # Idle is clamped to [0, 1].
    assert core.score_terms("i", "a", 1e6)[3] == 1.0
    assert core.score_terms("i", "a", 50.0)[3] == 0.0
    # Handle time: the first required skill on the channel, else the channel, else the seed.
    core.set_handle_time("a", CHAT, 1, 50.0)  # not the first required skill: unused
    assert core.score_terms("i", "a", now)[4] == pytest.approx(ref / (ref + seed))
    core.set_handle_time("a", EMAIL, -1, 60.0)  # another channel: unused
    assert core.score_terms("i", "a", now)[4] == pytest.approx(ref / (ref + seed))
    core.set_handle_time("a", CHAT, -1, 200.0)
    assert core.score_terms("i", "a", now)[4] == pytest.approx(ref / (ref + 200.0))
    core.set_handle_time("a", CHAT, 0, 100.0)
    assert core.score_terms("i", "a", now)[4] == pytest.approx(ref / (ref + 100.0))
    assert core.score_terms("none", "a", now)[4] == pytest.approx(ref / (ref + 200.0))


# --- incremental updates ---------------------------------------------------------------------


def test_remove_agent(make_core: MakeCore) -> None:
    core = make_core()
    add_agent(core, "a", skills=((0, 9),))
    add_agent(core, "b", skills=((0, 4),))
    add_interaction(core, "i")
    assert core.agent_count() == 2
    assert core.best_agent("i", 1.0) == "a"
    assert core.remove_agent("a") is True
    assert core.remove_agent("a") is False
    assert not core.has_agent("a")
    assert core.agent_count() == 1
    assert core.agent_ids() == ["b"]
    assert core.best_agent("i", 1.0) == "b"
    assert joint_assignment(core, 1.0) == [("i", "b")]
    with pytest.raises(KeyError):
        core.eligibility("i", "a", 1.0)
    core.remove_agent("b")
    assert core.best_agent("i", 1.0) is None


def test_remove_interaction(make_core: MakeCore) -> None:
    core = make_core()
    add_agent(core, "a")
    add_interaction(core, "hi", priority=9.0)
    add_interaction(core, "lo", priority=1.0)
    assert core.waiting_count() == 2
    assert core.best_interaction("a", 1.0) == "hi"
    assert core.remove_interaction("hi") is True
    assert core.remove_interaction("hi") is False
    assert not core.is_waiting("hi")
    assert core.waiting_count() == 1
    assert core.best_interaction("a", 1.0) == "lo"
    assert core.queue_order(1.0) == ["lo"]
    with pytest.raises(KeyError):
        core.best_agent("hi", 1.0)
    core.remove_interaction("lo")
    assert core.best_interaction("a", 1.0) is None
    assert core.queue_order(1.0) == []


def test_set_agent_state_and_idle(make_core: MakeCore) -> None:
    policy = Policy()
    core = make_core(policy)
    now = 300.0
    add_agent(core, "a", idle_since=0.0)
    add_agent(core, "b", idle_since=200.0)
    add_interaction(core, "i")
    assert core.best_agent("i", now) == "a"  # idle longer
    core.set_agent_state("a", NOT_READY, 250.0)
    assert core.eligibility("i", "a", now) == NOT_AVAILABLE
    assert core.best_agent("i", now) == "b"
    assert core.best_interaction("a", now) is None
    core.set_agent_state("a", STATE_AVAILABLE, 290.0)
    assert core.score_terms("i", "a", now)[3] == pytest.approx(10.0 / policy.idle_cap_seconds)
    assert core.best_agent("i", now) == "b"
    assert core.best_interaction("a", now) == "i"


def test_set_agent_load(make_core: MakeCore) -> None:
    core = make_core()
    add_agent(core, "a")
    add_interaction(core, "call", channel=VOICE)
    add_interaction(core, "chat", channel=CHAT)
    core.set_agent_load("a", VOICE, 1)
    assert core.best_interaction("a", 1.0) is None
    assert core.best_agent("chat", 1.0) is None
    core.set_agent_load("a", VOICE, 0)
    core.set_agent_load("a", CHAT, 1)
    assert core.best_agent("call", 1.0) is None
    assert core.best_interaction("a", 1.0) == "chat"
    core.set_agent_load("a", CHAT, 0)
    assert core.best_agent("call", 1.0) == "a"


def test_upsert_replaces_skills_and_keeps_handle_times(make_core: MakeCore) -> None:
    policy = Policy()
    core = make_core(policy)
    ref = policy.handle_time_reference_seconds
    add_agent(core, "a", skills=((0, 9),))
    add_interaction(core, "s0", required=((0, 5),))
    add_interaction(core, "s1", required=((1, 5),), priority=10.0)
    core.set_handle_time("a", CHAT, -1, 100.0)
    assert core.best_interaction("a", 1.0) == "s0"
    add_agent(core, "a", skills=((1, 6),), tier=3)
    assert core.agent_count() == 1
    assert core.eligibility("s0", "a", 1.0) == SKILL_MISSING
    assert core.best_agent("s0", 1.0) is None
    assert core.best_agent("s1", 1.0) == "a"
    assert core.best_interaction("a", 1.0) == "s1"
    assert core.score_terms("s1", "a", 1.0)[2] == pytest.approx(1.0 - 2 / 4)
    assert core.score_terms("s1", "a", 1.0)[4] == pytest.approx(ref / (ref + 100.0))
    add_agent(core, "a", skills=((1, 4),))
    assert core.eligibility("s1", "a", 1.0) == SKILL_LEVEL
    assert core.best_interaction("a", 1.0) is None


def test_reserve_takes_the_interaction_and_counts_the_load(make_core: MakeCore) -> None:
    core = make_core()
    add_agent(core, "a", load=with_load(chat=1), idle_since=5.0)
    add_agent(core, "b")
    for k in range(3):
        add_interaction(core, f"c{k}", channel=CHAT, priority=float(k))
    add_interaction(core, "call", channel=VOICE)
    core.reserve("c2", "a")
    assert not core.is_waiting("c2")
    assert core.waiting_count() == 3
    assert core.best_interaction("a", 1.0) == "c1"
    core.reserve("c1", "a")  # the third chat: now full
    assert core.eligibility("c0", "a", 1.0) == NO_CAPACITY
    assert core.best_interaction("a", 1.0) is None
    assert core.best_agent("c0", 1.0) == "b"
    core.reserve("call", "b")  # a call blocks every other channel
    assert core.best_interaction("b", 1.0) is None
    assert core.best_agent("c0", 1.0) is None
    core.set_agent_load("a", CHAT, 0)
    assert core.best_agent("c0", 1.0) == "a"
    assert core.agent_idle_since("a") == 5.0
    with pytest.raises(KeyError):
        core.reserve("c2", "a")
    with pytest.raises(KeyError):
        core.reserve("c0", "nobody")
    assert core.is_waiting("c0")


def test_reserve_refuses_to_overflow_the_load(make_core: MakeCore) -> None:
    core = make_core()
    add_agent(core, "a", capacity=(255,) * N_CHANNELS, load=with_load(email=255))
    add_interaction(core, "e", channel=EMAIL)
    with pytest.raises(ValueError):
        core.reserve("e", "a")
    assert core.is_waiting("e")


def test_agent_slot_reuse_has_no_stale_state(make_core: MakeCore) -> None:
    policy = Policy()
    core = make_core(policy)
    ref, seed = policy.handle_time_reference_seconds, policy.handle_time_seconds[Channel.CHAT]
    now = 1_000.0
    add_agent(core, "old", skills=((0, 10), (5, 7)), tier=5, load=with_load(chat=1))
    core.set_handle_time("old", CHAT, -1, 50.0)
    core.set_handle_time("old", CHAT, 0, 20.0)
    add_interaction(core, "x", required=((0, 9),))
    add_interaction(core, "esc", required=(), escalation=2)
    add_interaction(core, "y", required=((1, 1),), excluded=("old",))
    assert core.best_agent("x", now) == "old"
    core.remove_agent("old")
    add_agent(core, "new", skills=((1, 2),), tier=1)
    assert core.eligibility("x", "new", now) == SKILL_MISSING
    assert core.score_terms("x", "new", now)[0] == 0.0
    assert core.score_terms("x", "new", now)[4] == pytest.approx(ref / (ref + seed))
    assert core.eligibility("esc", "new", now) == TIER
    assert core.eligibility("y", "new", now) == ELIGIBLE
    assert core.best_agent("x", now) is None
    assert core.best_agent("y", now) == "new"
    assert core.best_interaction("new", now) == "y"
    # The same id again is a new agent: nothing carried over from before its removal.
    add_agent(core, "old", skills=((1, 1),))
    assert core.score_terms("x", "old", now)[4] == pytest.approx(ref / (ref + seed))
    assert core.eligibility("x", "old", now) == SKILL_MISSING
    assert core.eligibility("y", "old", now) == EXCLUDED


def test_interaction_slot_reuse_has_no_stale_state(make_core: MakeCore) -> None:
    core = make_core(RELAXING)
    add_agent(core, "a", skills=((1, 3),))
    add_agent(core, "b", skills=((0, 10),), tier=5)
    add_interaction(
        core,
        "x",
        required=((0, 9),),
        escalation=1,
        enqueued_at=0.0,
        preferred_agent="b",
        excluded=("a",),
        priority=80.0,
    )
    assert core.best_interaction("b", 5.0) == "x"
    core.remove_interaction("x")
    add_interaction(core, "y", required=((1, 5),), enqueued_at=20.0)
    assert core.score_terms("y", "b", 35.0)[5] == 0.0
    assert core.urgency("y", 35.0) == pytest.approx(RELAXING.aging_rate * 15.0 / 60.0)
    assert core.best_interaction("b", 35.0) is None
    # x's relaxation (due at 30) must not leak into y (due at 50 and 80).
    assert core.relaxation_step("y", 35.0) == 0
    assert core.best_interaction("a", 35.0) is None
    assert core.best_interaction("a", 55.0) is None
    assert core.best_interaction("a", 85.0) == "y"
    assert core.best_agent("y", 85.0) == "a"


@pytest.mark.parametrize("n", [200])
def test_growth_past_word_boundaries(make_core: MakeCore, n: int) -> None:
    core = make_core()
    now = 100_000.0  # idle terms capped: equal scores, so the longest idle wins
    add_interaction(core, "probe", required=((0, 3),))
    for k in range(n):
        add_agent(core, f"a{k:03d}", skills=((0, 3), (k + 1, 1)), idle_since=float(n - k))
        assert core.best_agent("probe", now) == f"a{k:03d}"
    assert core.agent_count() == n
    # Every agent has a skill of its own: the index must find it at any slot.
    for k in (0, 63, 64, 65, 127, 128, 129, n - 1):
        add_interaction(core, f"own{k}", required=((k + 1, 1),), enqueued_at=now)
        assert core.best_agent(f"own{k}", now) == f"a{k:03d}"
        assert core.remove_interaction(f"own{k}")
    # Interactions: each more urgent than the last.
    add_agent(core, "server", skills=((0, 10),))
    core.remove_interaction("probe")
    for k in range(n):
        add_interaction(core, f"i{k:03d}", priority=k * 0.5, enqueued_at=now)
        assert core.best_interaction("server", now) == f"i{k:03d}"
    assert core.queue_order(now) == [f"i{k:03d}" for k in reversed(range(n))]
    # Remove from the top; reuse the freed slots with less urgent ones.
    for k in reversed(range(n // 2, n)):
        core.remove_interaction(f"i{k:03d}")
    assert core.best_interaction("server", now) == f"i{n // 2 - 1:03d}"
    for k in range(n // 2):
        add_interaction(core, f"j{k:03d}", priority=0.0, enqueued_at=now + 1.0 + k)
    assert core.waiting_count() == n
    assert core.best_interaction("server", now + 1e-3) == f"i{n // 2 - 1:03d}"
    for k in range(n // 2):
        core.remove_interaction(f"i{k:03d}")
    assert core.best_interaction("server", now + 1e3) == "j000"


# --- bad arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "bad"), BAD_AGENT_ARGS, ids=[c for c, _ in BAD_AGENT_ARGS])
def test_upsert_agent_rejects(make_core: MakeCore, case: str, bad: dict[str, object]) -> None:
    core = make_core()
    args: dict[str, object] = {
        "tier": 1,
        "skills": ((1, 3),),
        "capacity": DEFAULT_CAPS,
        "state": STATE_AVAILABLE,
        "load": NO_LOAD,
        "idle_since": 0.0,
    }
    args.update(bad)
    with pytest.raises(ValueError):
        core.upsert_agent("a", **args)  # type: ignore[arg-type, unused-ignore]
    assert not core.has_agent("a")


@pytest.mark.parametrize(
    ("case", "bad"), BAD_INTERACTION_ARGS, ids=[c for c, _ in BAD_INTERACTION_ARGS]
)
def test_add_interaction_rejects(make_core: MakeCore, case: str, bad: dict[str, object]) -> None:
    core = make_core()
    add_agent(core, "a", skills=((2, 5),))
    add_interaction(core, "i", required=((2, 3),), priority=7.0)
    with pytest.raises(ValueError):
        add_interaction(core, "i", **bad)  # type: ignore[arg-type]
    # A rejected replacement leaves the waiting one untouched.
    assert core.waiting_count() == 1
    assert core.urgency("i", 0.0) == 7.0
    assert core.best_agent("i", 0.0) == "a"


def test_other_updates_reject_bad_values(make_core: MakeCore) -> None:
    core = make_core()
    add_agent(core, "a")
    with pytest.raises(ValueError):
        core.set_agent_load("a", N_CHANNELS, 0)
    with pytest.raises(ValueError):
        core.set_agent_load("a", -1, 0)
    with pytest.raises(ValueError):
        core.set_agent_load("a", CHAT, 256)
    with pytest.raises(ValueError):
        core.set_agent_load("a", CHAT, -1)
    for seconds in (0.0, -1.0):
        with pytest.raises(ValueError):
            core.set_handle_time("a", CHAT, -1, seconds)
    with pytest.raises(ValueError):
        core.set_handle_time("a", N_CHANNELS, -1, 10.0)


def test_policy_within_the_core_limits(make_core: MakeCore) -> None:
    steps = tuple(RelaxationStep(10.0 * (k + 1), 1) for k in range(MAX_RELAX_STEPS + 1))
    tiers = (1,) * (MAX_ESCALATION_TIERS + 1)
    make_core(Policy(relaxation=steps[:-1], escalation_min_tier=tiers[:-1]))
    with pytest.raises(ValueError):
        make_core(Policy(relaxation=steps))
    with pytest.raises(ValueError):
        make_core(Policy(escalation_min_tier=tiers))


@pytest.mark.parametrize(("case", "call"), UNKNOWN_ID_CALLS, ids=[c for c, _ in UNKNOWN_ID_CALLS])
def test_unknown_ids_raise_key_error(
    make_core: MakeCore, case: str, call: Callable[[Core], object]
) -> None:
    core = make_core()
    add_agent(core, "a")
    add_interaction(core, "i")
    with pytest.raises(KeyError):
        call(core)
    # Removing what is not there is not an error.
    assert core.remove_agent("nobody") is False
    assert core.remove_interaction("nothing") is False
