"""The routing core's rules, checked on both implementations (see `core_cls` in conftest).

Hard rules (eligibility and its reason codes), relaxation over time, bounded aging, greedy
decisions as an argmax over every agent / waiting interaction, optimal joint assignment,
incremental updates of the index, and argument checking.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pytest
from scipy.optimize import linear_sum_assignment

from cim_router._core_common import (
    ELIGIBLE,
    EXCLUDED,
    MAX_ESCALATION_TIERS,
    MAX_LEVEL,
    MAX_RELAX_STEPS,
    N_CHANNELS,
    NO_CAPACITY,
    NOT_AVAILABLE,
    REASONS,
    SKILL_LEVEL,
    SKILL_MISSING,
    STATE_AVAILABLE,
    TIER,
)
from cim_router._core_py import Core
from cim_router.domain import (
    Agent,
    AgentState,
    Channel,
    Interaction,
    Policy,
    RelaxationStep,
    SkillRequirement,
)
from cim_router.domain.channel import DEFAULT_CAPACITY
from cim_router.routing.engine import Engine, joint_assignment

if TYPE_CHECKING:
    from tests.conftest import MakeCore

VOICE, VIDEO, CHAT, SMS, SOCIAL, EMAIL = (int(c) for c in Channel)
DEFAULT_CAPS: tuple[int, ...] = tuple(DEFAULT_CAPACITY[c] for c in Channel)
NO_LOAD: tuple[int, ...] = (0,) * N_CHANNELS
OFFLINE, NOT_READY, WRAP_UP = (
    int(AgentState.OFFLINE),
    int(AgentState.NOT_READY),
    int(AgentState.WRAP_UP),
)

Skills = Sequence[tuple[int, int]]


def add_agent(
    core: Core,
    agent_id: str,
    skills: Skills = ((0, 5),),
    *,
    tier: int = 1,
    state: int = STATE_AVAILABLE,
    capacity: Sequence[int] = DEFAULT_CAPS,
    load: Sequence[int] = NO_LOAD,
    idle_since: float = 0.0,
) -> None:
    core.upsert_agent(agent_id, tier, skills, capacity, state, load, idle_since)


def add_interaction(
    core: Core,
    interaction_id: str,
    required: Skills = ((0, 1),),
    *,
    channel: int = CHAT,
    preferred: Skills = (),
    priority: float = 0.0,
    tier_bonus: float = 0.0,
    target_tier: int = 1,
    escalation: int = 0,
    sla: float = 60.0,
    enqueued_at: float = 0.0,
    preferred_agent: str = "",
    excluded: Sequence[str] = (),
) -> None:
    core.add_interaction(
        interaction_id,
        channel,
        required,
        preferred,
        priority,
        tier_bonus,
        target_tier,
        escalation,
        sla,
        enqueued_at,
        preferred_agent,
        excluded,
    )


def with_load(**loads: int) -> tuple[int, ...]:
    """A per-channel load vector from channel names, e.g. with_load(chat=2)."""
    out = list(NO_LOAD)
    for name, value in loads.items():
        out[Channel.parse(name)] = value
    return tuple(out)


def with_capacity(**caps: int) -> tuple[int, ...]:
    out = list(DEFAULT_CAPS)
    for name, value in caps.items():
        out[Channel.parse(name)] = value
    return tuple(out)


# --- eligibility: the hard rules -------------------------------------------------------------


def test_reason_codes_name_the_rules() -> None:
    codes = {
        "eligible": ELIGIBLE,
        "not_available": NOT_AVAILABLE,
        "no_capacity": NO_CAPACITY,
        "skill_missing": SKILL_MISSING,
        "skill_level": SKILL_LEVEL,
        "tier": TIER,
        "excluded": EXCLUDED,
    }
    assert {REASONS[code]: code for code in codes.values()} == codes
    assert len(set(codes.values())) == len(REASONS)


@pytest.mark.parametrize("state", [OFFLINE, NOT_READY, WRAP_UP])
def test_agent_not_available(make_core: MakeCore, state: int) -> None:
    core = make_core()
    add_agent(core, "a", state=state)
    add_interaction(core, "i")
    assert core.eligibility("i", "a", 10.0) == NOT_AVAILABLE
    assert core.best_agent("i", 10.0) is None
    assert core.best_interaction("a", 10.0) is None
    core.set_agent_state("a", STATE_AVAILABLE, 0.0)
    assert core.eligibility("i", "a", 10.0) == ELIGIBLE
    assert core.best_agent("i", 10.0) == "a"
    assert core.best_interaction("a", 10.0) == "i"


@pytest.mark.parametrize("channel", list(Channel))
def test_channel_at_capacity(make_core: MakeCore, channel: Channel) -> None:
    core = make_core()
    cap = DEFAULT_CAPACITY[channel]
    add_agent(core, "full", load=with_load(**{channel.name: cap}))
    add_agent(core, "none", capacity=with_capacity(**{channel.name: 0}))
    add_interaction(core, "i", channel=int(channel))
    assert core.eligibility("i", "full", 1.0) == NO_CAPACITY
    assert core.eligibility("i", "none", 1.0) == NO_CAPACITY
    assert core.best_agent("i", 1.0) is None
    assert core.best_interaction("full", 1.0) is None
    assert core.best_interaction("none", 1.0) is None


@pytest.mark.parametrize("held", [VOICE, VIDEO])
@pytest.mark.parametrize("offered", list(Channel))
def test_agent_on_an_exclusive_channel_gets_nothing_else(
    make_core: MakeCore, held: int, offered: Channel
) -> None:
    core = make_core()
    # Room on every channel, so only exclusivity can refuse.
    load = list(NO_LOAD)
    load[held] = 1
    add_agent(core, "a", capacity=(3,) * N_CHANNELS, load=load)
    add_interaction(core, "i", channel=int(offered))
    assert core.eligibility("i", "a", 1.0) == NO_CAPACITY
    assert core.best_agent("i", 1.0) is None
    assert core.best_interaction("a", 1.0) is None


@pytest.mark.parametrize("held", [CHAT, SMS, SOCIAL, EMAIL])
def test_agent_holding_digital_work_gets_no_call(make_core: MakeCore, held: int) -> None:
    core = make_core()
    load = list(NO_LOAD)
    load[held] = 1
    add_agent(core, "a", load=load)
    add_interaction(core, "call", channel=VOICE)
    add_interaction(core, "video", channel=VIDEO)
    add_interaction(core, "more", channel=held)
    add_interaction(core, "email", channel=EMAIL)
    assert core.eligibility("call", "a", 1.0) == NO_CAPACITY
    assert core.eligibility("video", "a", 1.0) == NO_CAPACITY
    assert core.eligibility("more", "a", 1.0) == ELIGIBLE
    assert core.eligibility("email", "a", 1.0) == ELIGIBLE
    assert core.best_interaction("a", 1.0) in {"more", "email"}
    # Once the digital work is done, a call may come.
    core.set_agent_load("a", held, 0)
    assert core.eligibility("call", "a", 1.0) == ELIGIBLE


def test_exclusivity_follows_the_policy(make_core: MakeCore) -> None:
    core = make_core(Policy(exclusive_channels=frozenset({Channel.EMAIL})))
    add_agent(core, "on_call", load=with_load(voice=1))
    add_agent(core, "on_email", load=with_load(email=1))
    add_interaction(core, "chat", channel=CHAT)
    add_interaction(core, "voice", channel=VOICE)
    add_interaction(core, "email", channel=EMAIL)
    # Voice is not exclusive here: the agent on a call may chat.
    assert core.eligibility("chat", "on_call", 1.0) == ELIGIBLE
    assert core.eligibility("email", "on_call", 1.0) == NO_CAPACITY
    assert core.eligibility("chat", "on_email", 1.0) == NO_CAPACITY
    assert core.eligibility("voice", "on_email", 1.0) == NO_CAPACITY
    assert core.eligibility("email", "on_email", 1.0) == NO_CAPACITY


def test_missing_skill_and_level(make_core: MakeCore) -> None:
    core = make_core()
    add_agent(core, "a", skills=((1, 6), (2, 3)))
    add_interaction(core, "missing", required=((1, 1), (7, 1)))
    add_interaction(core, "too_low", required=((1, 7),))
    add_interaction(core, "second_too_low", required=((1, 6), (2, 4)))
    add_interaction(core, "exact", required=((1, 6), (2, 3)))
    add_interaction(core, "none_required", required=())
    assert core.eligibility("missing", "a", 1.0) == SKILL_MISSING
    assert core.eligibility("too_low", "a", 1.0) == SKILL_LEVEL
    assert core.eligibility("second_too_low", "a", 1.0) == SKILL_LEVEL
    assert core.eligibility("exact", "a", 1.0) == ELIGIBLE
    assert core.eligibility("none_required", "a", 1.0) == ELIGIBLE
    for iid in ("missing", "too_low", "second_too_low"):
        assert core.best_agent(iid, 1.0) is None
    assert core.best_agent("exact", 1.0) == "a"


@pytest.mark.parametrize("escalation", range(5))
@pytest.mark.parametrize("tier", range(1, 6))
def test_tier_below_escalation_minimum(make_core: MakeCore, escalation: int, tier: int) -> None:
    policy = Policy()
    steps = policy.escalation_min_tier
    min_tier = steps[min(escalation, len(steps) - 1)]
    core = make_core(policy)
    add_agent(core, "a", tier=tier)
    add_interaction(core, "i", escalation=escalation)
    expected = ELIGIBLE if tier >= min_tier else TIER
    assert core.eligibility("i", "a", 1.0) == expected
    assert core.best_agent("i", 1.0) == ("a" if expected == ELIGIBLE else None)
    assert core.best_interaction("a", 1.0) == ("i" if expected == ELIGIBLE else None)


def test_target_tier_is_soft(make_core: MakeCore) -> None:
    # The customer tier's target agent tier only scores; it never excludes.
    core = make_core()
    add_agent(core, "junior", tier=1)
    add_agent(core, "senior", tier=3)
    add_interaction(core, "vip", target_tier=3)
    assert core.eligibility("vip", "junior", 1.0) == ELIGIBLE
    assert core.score_terms("vip", "junior", 1.0)[2] == 1.0 - 2 / 4.0
    assert core.score_terms("vip", "senior", 1.0)[2] == 1.0
    assert core.best_agent("vip", 1.0) == "senior"


def test_excluded_agent(make_core: MakeCore) -> None:
    core = make_core()
    add_agent(core, "a", idle_since=0.0)
    add_agent(core, "b", idle_since=0.0)
    add_agent(core, "c", idle_since=0.0)
    add_interaction(core, "i", excluded=("a",))
    add_interaction(core, "j")
    assert core.eligibility("i", "a", 1.0) == EXCLUDED
    assert core.best_agent("i", 1.0) == "b"
    core.exclude_agent("i", "b")
    assert core.eligibility("i", "b", 1.0) == EXCLUDED
    assert core.best_agent("i", 1.0) == "c"
    # Exclusion is per interaction.
    assert core.eligibility("j", "a", 1.0) == ELIGIBLE
    assert core.best_interaction("a", 1.0) == "j"
    assert core.best_interaction("c", 1.0) == "i"
    # Excluding an agent the core does not know is allowed and harmless.
    core.exclude_agent("i", "ghost")
    assert core.best_agent("i", 1.0) == "c"


def test_rules_are_checked_in_order(make_core: MakeCore) -> None:
    core = make_core()
    add_interaction(core, "i", required=((3, 8),), escalation=2, excluded=("x",))
    # Every rule fails at first; fix them one at a time and watch the reason move on.
    add_agent(core, "x", skills=((4, 2),), tier=1, state=OFFLINE, load=with_load(voice=1))
    assert core.eligibility("i", "x", 1.0) == NOT_AVAILABLE
    core.set_agent_state("x", STATE_AVAILABLE, 0.0)
    assert core.eligibility("i", "x", 1.0) == NO_CAPACITY
    core.set_agent_load("x", VOICE, 0)
    assert core.eligibility("i", "x", 1.0) == SKILL_MISSING
    add_agent(core, "x", skills=((3, 7),), tier=1)
    assert core.eligibility("i", "x", 1.0) == SKILL_LEVEL
    add_agent(core, "x", skills=((3, 8),), tier=1)
    assert core.eligibility("i", "x", 1.0) == TIER
    add_agent(core, "x", skills=((3, 8),), tier=5)
    assert core.eligibility("i", "x", 1.0) == EXCLUDED


# --- multitasking ----------------------------------------------------------------------------


def test_chat_multitasking(make_core: MakeCore) -> None:
    core = make_core()
    add_agent(core, "a", capacity=with_capacity(chat=3), load=with_load(chat=2))
    add_interaction(core, "c", channel=CHAT)
    assert core.eligibility("c", "a", 1.0) == ELIGIBLE
    assert core.best_agent("c", 1.0) == "a"
    assert core.best_interaction("a", 1.0) == "c"
    core.set_agent_load("a", CHAT, 3)
    assert core.eligibility("c", "a", 1.0) == NO_CAPACITY
    assert core.best_agent("c", 1.0) is None
    assert core.best_interaction("a", 1.0) is None
    core.set_agent_load("a", CHAT, 2)
    assert core.best_agent("c", 1.0) == "a"
    # Chats mix with other non-exclusive channels.
    add_interaction(core, "e", channel=EMAIL, priority=5.0)
    assert core.best_interaction("a", 1.0) == "e"


# --- relaxation ------------------------------------------------------------------------------

RELAXING = Policy(
    relaxation=(RelaxationStep(30.0, 1), RelaxationStep(60.0, 2, drop_preferred=True))
)
ENQ = 100.0


def expected_step(policy: Policy, waited: float) -> int:
    return sum(1 for s in policy.relaxation if waited >= s.after_seconds)


def expected_min_level(policy: Policy, level: int, waited: float) -> int:
    step = expected_step(policy, waited)
    drop = policy.relaxation[step - 1].level_drop if step else 0
    return max(1, level - drop)


def test_relaxation_step_values(make_core: MakeCore) -> None:
    core = make_core(RELAXING)
    add_interaction(core, "i", enqueued_at=ENQ)
    for waited, step in [(0, 0), (10, 0), (29.999, 0), (30, 1), (59.5, 1), (60, 2), (1e6, 2)]:
        assert core.relaxation_step("i", ENQ + waited) == step == expected_step(RELAXING, waited)


def test_relaxation_lowers_the_minimum_level_for_arrivals(make_core: MakeCore) -> None:
    core = make_core(RELAXING)
    add_agent(core, "a", skills=((0, 3),))
    add_interaction(core, "i", required=((0, 5),), enqueued_at=ENQ)
    for waited, eligible in [(10.0, False), (35.0, False), (65.0, True)]:
        assert (expected_min_level(RELAXING, 5, waited) <= 3) is eligible
        now = ENQ + waited
        assert core.eligibility("i", "a", now) == (ELIGIBLE if eligible else SKILL_LEVEL)
        assert core.best_agent("i", now) == ("a" if eligible else None)
    # best_agent is a pure function of `now`: going back is fine for arrivals.
    assert core.best_agent("i", ENQ + 35.0) is None


def test_relaxation_for_a_freed_agent(make_core: MakeCore) -> None:
    core = make_core(RELAXING)
    add_agent(core, "a", skills=((0, 3),))
    add_interaction(core, "i", required=((0, 5),), enqueued_at=ENQ)
    for waited, expected in [(10.0, None), (35.0, None), (65.0, "i")]:
        assert core.best_interaction("a", ENQ + waited) == expected


def test_relaxation_picks_what_has_relaxed_enough(make_core: MakeCore) -> None:
    core = make_core(RELAXING)
    add_agent(core, "a", skills=((0, 3),))
    add_interaction(core, "old", required=((0, 5),), enqueued_at=100.0)
    add_interaction(core, "new", required=((0, 4),), enqueued_at=120.0)
    levels = {"old": (5, 100.0), "new": (4, 120.0)}
    for now in (110.0, 125.0, 135.0, 149.0, 150.0, 159.0, 160.0, 200.0):
        ok = [
            iid
            for iid, (lv, enq) in levels.items()
            if expected_min_level(RELAXING, lv, now - enq) <= 3
        ]
        # "old" is more urgent whenever both qualify (it has waited longer).
        expected = "old" if "old" in ok else ("new" if ok else None)
        assert core.best_interaction("a", now) == expected, now
    assert core.best_interaction("a", 200.0) == "old"


def test_relaxation_while_time_advances_in_many_steps(make_core: MakeCore) -> None:
    policy = Policy(relaxation=tuple(RelaxationStep(10.0 * k, k) for k in range(1, 10)))
    core = make_core(policy)
    add_agent(core, "a", skills=((0, 1),))
    for k in range(10):
        add_interaction(core, f"i{k}", required=((0, 10),), enqueued_at=5.0 * k, priority=k)
    now = 0.0
    while now <= 200.0:
        ok = [k for k in range(10) if expected_min_level(policy, 10, now - 5.0 * k) <= 1]
        # The most urgent of those that qualify; at equal urgency the earlier (lower k).
        key = {k: (expected_urgency(policy, k, 60.0, now - 5.0 * k), -k) for k in ok}
        expected = f"i{max(ok, key=key.__getitem__)}" if ok else None
        assert core.best_interaction("a", now) == expected, now
        now += 2.5


def test_preferred_term_stops_counting_after_drop_preferred(make_core: MakeCore) -> None:
    core = make_core(RELAXING)
    add_agent(core, "a", skills=((0, 3), (1, 8), (2, 4)))
    add_interaction(core, "i", required=((0, 1),), preferred=((1, 1), (2, 1)), enqueued_at=ENQ)
    pref = (8 + 4) / (MAX_LEVEL * 2)
    assert core.score_terms("i", "a", ENQ + 10.0)[1] == pytest.approx(pref)
    assert core.score_terms("i", "a", ENQ + 35.0)[1] == pytest.approx(pref)
    assert core.score_terms("i", "a", ENQ + 65.0)[1] == 0.0
    # The total is the weighted sum of its terms.
    w = RELAXING.weights
    for now in (ENQ + 35.0, ENQ + 65.0):
        t = core.score_terms("i", "a", now)
        total = (
            w.skill * t[0]
            + w.preferred_skill * t[1]
            + w.tier * t[2]
            + w.idle * t[3]
            + w.handle_time * t[4]
            + w.sticky * t[5]
        )
        assert t[6] == pytest.approx(total)
    drop = core.score_terms("i", "a", ENQ + 35.0)[6] - core.score_terms("i", "a", ENQ + 65.0)[6]
    idle_gain = w.idle * 30.0 / RELAXING.idle_cap_seconds
    assert drop == pytest.approx(w.preferred_skill * pref - idle_gain)


def test_drop_preferred_is_cumulative(make_core: MakeCore) -> None:
    policy = Policy(
        relaxation=(
            RelaxationStep(30.0, 0, drop_preferred=True),
            RelaxationStep(60.0, 1, drop_preferred=False),
        )
    )
    core = make_core(policy)
    add_agent(core, "a", skills=((0, 3), (1, 8)))
    add_interaction(core, "i", required=((0, 1),), preferred=((1, 1),), enqueued_at=ENQ)
    assert core.score_terms("i", "a", ENQ + 10.0)[1] == pytest.approx(0.8)
    assert core.score_terms("i", "a", ENQ + 35.0)[1] == 0.0
    assert core.score_terms("i", "a", ENQ + 65.0)[1] == 0.0


def test_levels_never_drop_below_one(make_core: MakeCore) -> None:
    policy = Policy(relaxation=(RelaxationStep(30.0, 9),))
    core = make_core(policy)
    add_agent(core, "weak", skills=((0, 1),))
    add_agent(core, "without", skills=((1, 10),))
    add_interaction(core, "i", required=((0, 4),), enqueued_at=ENQ)
    assert core.eligibility("i", "weak", ENQ + 10.0) == SKILL_LEVEL
    now = ENQ + 31.0
    assert core.eligibility("i", "weak", now) == ELIGIBLE
    # Relaxation lowers levels; it never waives the skill itself.
    assert core.eligibility("i", "without", now) == SKILL_MISSING
    assert core.best_agent("i", now) == "weak"
    assert core.best_interaction("without", now) is None
    assert core.best_interaction("weak", now) == "i"


def test_interaction_added_after_its_steps_are_due(make_core: MakeCore) -> None:
    # Enqueued long ago (e.g. moved from another queue): relaxed as soon as it arrives.
    core = make_core(RELAXING)
    add_agent(core, "a", skills=((0, 3),))
    add_agent(core, "b", skills=((0, 3),))
    assert core.best_interaction("b", 500.0) is None
    add_interaction(core, "i", required=((0, 5),), enqueued_at=400.0)
    assert core.relaxation_step("i", 500.0) == 2
    assert core.best_interaction("a", 500.0) == "i"
    assert core.best_agent("i", 500.0) in {"a", "b"}


# --- aging and service order -----------------------------------------------------------------


def expected_urgency(policy: Policy, base: float, sla: float, waited: float) -> float:
    return base + min(policy.aging_rate * max(waited, 0.0) / sla, policy.aging_cap)


@pytest.mark.parametrize("policy", [Policy(), Policy(aging_rate=5.0, aging_cap=3.0)])
def test_urgency_formula(make_core: MakeCore, policy: Policy) -> None:
    core = make_core(policy)
    add_interaction(core, "i", priority=10.0, sla=60.0, enqueued_at=ENQ)
    for waited in (0.0, 1.0, 30.0, 60.0, 119.0, 120.0, 121.0, 3600.0, 1e9):
        assert core.urgency("i", ENQ + waited) == pytest.approx(
            expected_urgency(policy, 10.0, 60.0, waited)
        )
    # Not enqueued yet: no aging, and no negative aging either.
    assert core.urgency("i", ENQ - 50.0) == 10.0
    # Bounded by the cap, reached and kept.
    assert core.urgency("i", ENQ + 1e12) == pytest.approx(10.0 + policy.aging_cap)
    waits = [0.0, 5.0, 50.0, 500.0, 5000.0]
    values = [core.urgency("i", ENQ + w) for w in waits]
    assert values == sorted(values)


def test_urgency_is_relative_to_sla(make_core: MakeCore) -> None:
    policy = Policy()
    core = make_core(policy)
    add_interaction(core, "voice", channel=VOICE, sla=20.0, enqueued_at=0.0)
    add_interaction(core, "email", channel=EMAIL, sla=3600.0, enqueued_at=0.0)
    for now in (10.0, 100.0):
        assert core.urgency("voice", now) == pytest.approx(expected_urgency(policy, 0, 20, now))
        assert core.urgency("email", now) == pytest.approx(expected_urgency(policy, 0, 3600, now))
    assert core.queue_order(10.0) == ["voice", "email"]


# With an SLA of 64 s the aging per second (20 / 64) is exact in binary, so equal urgencies
# are really equal.
@pytest.mark.parametrize("low_waited", [0.0, 16.0, 31.0, 31.9, 32.0, 32.1, 33.0, 48.0, 600.0])
def test_aging_overtakes_priority_exactly_when_it_makes_up_the_gap(
    make_core: MakeCore, low_waited: float
) -> None:
    policy = Policy()
    gap, sla, now = 10.0, 64.0, 1000.0
    core = make_core(policy)
    add_agent(core, "a")
    add_interaction(core, "high", priority=gap, enqueued_at=now, sla=sla)
    add_interaction(core, "low", priority=0.0, enqueued_at=now - low_waited, sla=sla)
    u_low = expected_urgency(policy, 0.0, sla, low_waited)
    u_high = expected_urgency(policy, gap, sla, 0.0)
    assert core.urgency("low", now) == pytest.approx(u_low)
    assert core.urgency("high", now) == pytest.approx(u_high)
    # At equal urgency the one enqueued earlier goes first.
    low_first = u_low > u_high or (u_low == u_high and low_waited > 0.0)
    expected = ["low", "high"] if low_first else ["high", "low"]
    assert core.queue_order(now) == expected
    assert core.best_interaction("a", now) == expected[0]


def test_bounded_aging_never_overtakes_a_larger_gap(make_core: MakeCore) -> None:
    policy = Policy(aging_cap=5.0)
    core = make_core(policy)
    add_agent(core, "a")
    add_interaction(core, "low", priority=0.0, enqueued_at=0.0)
    add_interaction(core, "high", priority=6.0, enqueued_at=1e6)
    assert core.queue_order(1e6) == ["high", "low"]
    assert core.best_interaction("a", 1e6) == "high"
    # ...but the cap is reached: a gap smaller than it is made up.
    add_interaction(core, "mid", priority=4.0, enqueued_at=1e6)
    assert core.queue_order(1e6) == ["high", "low", "mid"]


def test_customer_tier_and_escalation_bonuses(make_core: MakeCore) -> None:
    policy = Policy()
    core = make_core(policy)
    now = 50.0
    cases = {
        "standard": (policy.customer_tier("standard").bonus, 0),
        "gold": (policy.customer_tier("gold").bonus, 0),
        "vip": (policy.customer_tier("vip").bonus, 0),
        "escalated": (0.0, 1),
        "twice": (0.0, 2),
    }
    for iid, (bonus, escalation) in cases.items():
        add_interaction(
            core, iid, priority=5.0, tier_bonus=bonus, escalation=escalation, enqueued_at=40.0
        )
    for iid, (bonus, escalation) in cases.items():
        base = 5.0 + bonus + policy.escalation_bonus * escalation
        assert core.urgency(iid, now) == pytest.approx(expected_urgency(policy, base, 60.0, 10.0))
    assert core.urgency("gold", now) > core.urgency("standard", now)
    assert core.urgency("vip", now) > core.urgency("gold", now)
    assert core.urgency("escalated", now) > core.urgency("standard", now)
    expected = sorted(cases, key=lambda iid: -core.urgency(iid, now))
    assert core.queue_order(now) == expected
    assert expected[0] in {"twice", "vip"}


# --- greedy decisions are argmaxes over everything -------------------------------------------


@dataclass
class Instance:
    """What a random instance put in a core, in the order it was added."""

    idle_since: dict[str, float] = field(default_factory=dict)  # agent id -> idle since
    enqueued_at: dict[str, float] = field(default_factory=dict)  # interaction id -> enqueued


def random_instance(
    core: Core,
    rng: random.Random,
    *,
    n_agents: int,
    n_interactions: int,
    n_skills: int,
    now: float,
) -> Instance:
    """Fill `core` with random agents and waiting interactions, with plenty of ties."""
    inst = Instance()
    templates: list[tuple[int, list[tuple[int, int]], float]] = []
    for k in range(n_agents):
        aid = f"a{k:04d}"
        if templates and rng.random() < 0.25:
            # A copy of an earlier agent: same score, so the tie-breaks decide.
            tier, skills, idle = rng.choice(templates)
            if rng.random() < 0.5:
                idle = rng.choice([0.0, now - 900.0, now - 1200.0])
        else:
            tier = rng.randint(1, 5)
            chosen = rng.sample(range(n_skills), rng.randint(1, 6))
            skills = [(s, rng.randint(1, 10)) for s in chosen]
            idle = rng.choice([0.0, now - rng.uniform(0.0, 900.0), now - 60.0, now + 5.0])
            templates.append((tier, skills, idle))
        load = [0] * N_CHANNELS
        roll = rng.random()
        if roll < 0.1:
            load[VOICE] = 1
        elif roll < 0.5:
            load[CHAT] = rng.randint(0, 3)
            load[EMAIL] = rng.randint(0, 2)
        state = STATE_AVAILABLE if rng.random() < 0.85 else rng.choice([OFFLINE, NOT_READY])
        core.upsert_agent(aid, tier, skills, DEFAULT_CAPS, state, load, idle)
        if rng.random() < 0.2:
            skill = rng.choice([-1, *(s for s, _ in skills)])
            core.set_handle_time(aid, rng.randrange(N_CHANNELS), skill, rng.uniform(30.0, 1500.0))
        inst.idle_since[aid] = idle
    agent_ids = list(inst.idle_since)
    for k in range(n_interactions):
        iid = f"i{k:04d}"
        required = [(s, rng.randint(1, 7)) for s in rng.sample(range(n_skills), rng.randint(0, 3))]
        preferred = [(s, 1) for s in rng.sample(range(n_skills), rng.randint(0, 2))]
        # Coarse values make equal urgencies likely.
        enqueued = rng.choice([now - 100.0, now - 40.0, now - 10.0, now - rng.uniform(0.0, 200.0)])
        core.add_interaction(
            iid,
            rng.choice([CHAT, CHAT, EMAIL, VOICE, SMS, VIDEO, SOCIAL]),
            required,
            preferred,
            float(rng.choice([0, 0, 10, 50, rng.randint(0, 100)])),
            rng.choice([0.0, 10.0, 20.0]),
            rng.randint(1, 5),
            rng.choice([0, 0, 0, 1, 2]),
            rng.choice([20.0, 60.0, 300.0]),
            enqueued,
            rng.choice(["", "", rng.choice(agent_ids)]),
            rng.sample(agent_ids, rng.randint(0, 3)),
        )
        inst.enqueued_at[iid] = enqueued
    return inst


def expected_best_agent(core: Core, inst: Instance, iid: str, now: float) -> tuple[str | None, int]:
    """The argmax over every agent, and how many eligible agents share the best score."""
    keys = [
        (-core.score_terms(iid, aid, now)[-1], idle, aid)
        for aid, idle in inst.idle_since.items()
        if core.eligibility(iid, aid, now) == ELIGIBLE
    ]
    if not keys:
        return None, 0
    best = min(keys)  # highest score, then longest idle (smallest idle_since), then lowest id
    return best[2], sum(1 for k in keys if k[0] == best[0])


def expected_best_interaction(core: Core, inst: Instance, aid: str, now: float) -> str | None:
    keys = [
        (-core.urgency(iid, now), enq, pos, iid)
        for pos, (iid, enq) in enumerate(inst.enqueued_at.items())
        if core.is_waiting(iid) and core.eligibility(iid, aid, now) == ELIGIBLE
    ]
    return min(keys)[3] if keys else None  # most urgent, then enqueued first, then added first


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_best_agent_is_the_argmax_over_all_agents(make_core: MakeCore, seed: int) -> None:
    rng = random.Random(seed)
    core = make_core()
    now = 10_000.0
    inst = random_instance(core, rng, n_agents=300, n_interactions=60, n_skills=30, now=now)
    found = tied = 0
    for later in (0.0, 35.0, 100.0):
        for iid in inst.enqueued_at:
            expected, n_best = expected_best_agent(core, inst, iid, now + later)
            got = core.best_agent(iid, now + later)
            assert got == expected, (iid, later)
            if got is not None:
                found += 1
                tied += n_best > 1
                assert core.eligibility(iid, got, now + later) == ELIGIBLE
    # The instances are meant to exercise both decisions and tie-breaks.
    assert found > 30
    assert tied > 0


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_best_interaction_is_the_argmax_over_all_waiting(make_core: MakeCore, seed: int) -> None:
    rng = random.Random(seed)
    core = make_core()
    now = 10_000.0
    inst = random_instance(core, rng, n_agents=80, n_interactions=200, n_skills=12, now=now)
    found = 0
    for later in (0.0, 20.0, 45.0, 100.0):  # `now` never goes back on one core
        for aid in inst.idle_since:
            expected = expected_best_interaction(core, inst, aid, now + later)
            got = core.best_interaction(aid, now + later)
            assert got == expected, (aid, later)
            if got is not None:
                found += 1
                assert core.eligibility(got, aid, now + later) == ELIGIBLE
        order = sorted(
            (iid for iid in inst.enqueued_at if core.is_waiting(iid)),
            key=lambda iid: (
                -core.urgency(iid, now + later),
                inst.enqueued_at[iid],
                list(inst.enqueued_at).index(iid),
            ),
        )
        assert core.queue_order(now + later) == order
        # Serve some: the next decisions must not see them.
        for iid in rng.sample(sorted(iid for iid in inst.enqueued_at if core.is_waiting(iid)), 20):
            assert core.remove_interaction(iid)
    assert found > 50


def test_best_agent_tie_break_longest_idle_then_lowest_id(make_core: MakeCore) -> None:
    core = make_core()
    now = 10_000.0  # every idle term is at its cap, so the scores tie
    for aid, idle in [("d", 200.0), ("c", 50.0), ("b", 100.0), ("a", 50.0), ("e", 10.0)]:
        add_agent(core, aid, skills=((0, 5),), idle_since=idle)
    add_interaction(core, "i")
    core.set_agent_state("e", NOT_READY, 10.0)
    scores = {core.score_terms("i", aid, now)[-1] for aid in "abcd"}
    assert len(scores) == 1
    assert core.best_agent("i", now) == "a"
    core.remove_agent("a")
    assert core.best_agent("i", now) == "c"
    core.exclude_agent("i", "c")
    assert core.best_agent("i", now) == "b"
    core.set_agent_state("e", STATE_AVAILABLE, 10.0)
    assert core.best_agent("i", now) == "e"


def test_best_agent_score_beats_idle_and_id(make_core: MakeCore) -> None:
    core = make_core()
    now = 10_000.0
    add_agent(core, "a", skills=((0, 5),), idle_since=0.0)
    add_agent(core, "z", skills=((0, 6),), idle_since=9_000.0)
    add_interaction(core, "i")
    assert core.score_terms("i", "z", now)[-1] > core.score_terms("i", "a", now)[-1]
    assert core.best_agent("i", now) == "z"


def test_best_interaction_tie_breaks(make_core: MakeCore) -> None:
    core = make_core(Policy(aging_rate=0.0))  # urgency is the base alone
    add_agent(core, "a")
    add_interaction(core, "x", priority=5.0, enqueued_at=20.0)
    add_interaction(core, "z", priority=5.0, enqueued_at=10.0)
    add_interaction(core, "y", priority=5.0, enqueued_at=10.0)
    add_interaction(core, "low", priority=4.0, enqueued_at=0.0)
    now = 100.0
    assert core.queue_order(now) == ["z", "y", "x", "low"]  # earliest first, then first added
    assert core.best_interaction("a", now) == "z"
    # Adding again (same id) makes it a new arrival, behind its equal.
    add_interaction(core, "z", priority=5.0, enqueued_at=10.0)
    assert core.queue_order(now) == ["y", "z", "x", "low"]
    assert core.best_interaction("a", now) == "y"
    core.remove_interaction("y")
    assert core.best_interaction("a", now) == "z"
    core.exclude_agent("z", "a")
    assert core.best_interaction("a", now) == "x"
    core.remove_interaction("x")
    assert core.best_interaction("a", now) == "low"


# --- joint assignment ------------------------------------------------------------------------


def optimum(matrix: npt.NDArray[np.float64]) -> float:
    rows, cols = linear_sum_assignment(matrix, maximize=True)
    return float(matrix[rows, cols].sum())


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize(("n_agents", "n_interactions"), [(45, 35), (15, 50), (70, 8)])
def test_joint_assignment_is_optimal(
    make_core: MakeCore, seed: int, n_agents: int, n_interactions: int
) -> None:
    rng = random.Random(seed)
    core = make_core()
    now = 5_000.0
    inst = random_instance(
        core, rng, n_agents=n_agents, n_interactions=n_interactions, n_skills=6, now=now
    )
    pairs = joint_assignment(core, now)
    assert pairs
    assert len({i for i, _ in pairs}) == len(pairs)
    assert len({a for _, a in pairs}) == len(pairs)
    for iid, aid in pairs:
        assert core.eligibility(iid, aid, now) == ELIGIBLE
    total = sum(core.pair_value(iid, aid, now) for iid, aid in pairs)
    # Over every agent and waiting interaction: ineligible pairs are worth 0 either way.
    matrix = core.score_matrix(list(inst.enqueued_at), list(inst.idle_since), now)
    assert total == pytest.approx(optimum(matrix), rel=1e-12)


@pytest.mark.parametrize("seed", range(2))
def test_score_matrix_is_pair_value_and_zero_exactly_when_ineligible(
    make_core: MakeCore, seed: int
) -> None:
    rng = random.Random(seed)
    core = make_core()
    now = 5_000.0
    inst = random_instance(core, rng, n_agents=70, n_interactions=70, n_skills=8, now=now)
    iids, aids = list(inst.enqueued_at), list(inst.idle_since)
    rng.shuffle(iids)
    rng.shuffle(aids)
    matrix = core.score_matrix(iids, aids, now)
    assert matrix.shape == (len(iids), len(aids))
    eligible = 0
    for r, iid in enumerate(iids):
        for c, aid in enumerate(aids):
            value = core.pair_value(iid, aid, now)
            assert matrix[r, c] == value
            if core.eligibility(iid, aid, now) == ELIGIBLE:
                eligible += 1
                w = core.params.w_urgency
                assert value == pytest.approx(
                    1.0 + core.score_terms(iid, aid, now)[-1] + w * core.urgency(iid, now) / 100
                )
                assert value > 1.0
            else:
                assert value == 0.0
    assert 0 < eligible < matrix.size


def test_joint_assignment_beats_greedy(make_core: MakeCore) -> None:
    core = make_core()
    now = 1_000.0
    add_agent(core, "A", skills=((0, 10), (1, 10)))
    add_agent(core, "B", skills=((0, 1),))
    add_interaction(core, "i1", required=((0, 1),), priority=50.0)
    add_interaction(core, "i2", required=((1, 1),))
    assert core.best_agent("i1", now) == "A"  # greedy would leave i2 without an agent
    both = core.pair_value("i1", "B", now) + core.pair_value("i2", "A", now)
    assert both > core.pair_value("i1", "A", now)
    assert sorted(joint_assignment(core, now)) == [("i1", "B"), ("i2", "A")]


def test_joint_assignment_one_per_agent_and_batch_limit(make_core: MakeCore) -> None:
    core = make_core(Policy(joint_batch_limit=3))
    now = 100.0
    add_agent(core, "multi", capacity=with_capacity(chat=3))
    for k in range(6):
        add_interaction(core, f"c{k}", priority=float(10 * k))
    # One agent, even with room for three chats, gets one interaction per batch: the most
    # valuable, which with equal scores is the most urgent.
    assert joint_assignment(core, now) == [(core.queue_order(now)[0], "multi")]
    for k in range(5):
        add_agent(core, f"x{k}")
    pairs = joint_assignment(core, now)
    assert len(pairs) == 3
    assert {i for i, _ in pairs} == set(core.queue_order(now)[:3])


def test_joint_assignment_empty(make_core: MakeCore) -> None:
    core = make_core()
    assert joint_assignment(core, 0.0) == []
    add_agent(core, "a", skills=((1, 1),))
    assert joint_assignment(core, 0.0) == []
    add_interaction(core, "i", required=((2, 1),))
    assert joint_assignment(core, 0.0) == []


@pytest.mark.parametrize("matching", ["greedy", "joint"])
def test_engine_match_waiting_reserves_what_it_returns(matching: str) -> None:
    engine = Engine(Policy(matching=matching))
    one_chat = {Channel.CHAT: 1}
    for agent_id, skills in (("A", {"billing": 10, "spanish": 10}), ("B", {"billing": 1})):
        engine.upsert_agent(
            Agent(agent_id, skills=skills, capacity=one_chat, state=AgentState.AVAILABLE)
        )
    for iid, skill, priority in (("i1", "billing", 50), ("i2", "spanish", 0)):
        need = (SkillRequirement(skill),)
        engine.enqueue(Interaction(iid, Channel.CHAT, required=need, priority=priority))
    now = 1_000.0
    decisions = engine.match_waiting(now)
    pairs = [(d.interaction_id, d.agent_id) for d in decisions]
    # Greedy gives the urgent one the best agent and leaves i2 waiting; joint serves both.
    assert sorted(pairs) == ([("i1", "A")] if matching == "greedy" else [("i1", "B"), ("i2", "A")])
    assert not any(engine.core.is_waiting(iid) for iid, _ in pairs)
    assert engine.core.waiting_count() == 2 - len(pairs)
    assert engine.core.agents_with_room() == 2 - len(pairs)  # each pair counted in the load
    assert engine.match_waiting(now) == []
    # Greedy decisions say why; a joint assignment is one decision over all of them.
    assert all((d.explanation is not None) == (matching == "greedy") for d in decisions)


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
    skill, pref, tier, idle, aht, sticky, total = core.score_terms("i", "a", now)
    assert skill == pytest.approx((6 + 3) / 20)
    assert pref == pytest.approx((9 + 0) / 20)
    assert tier == pytest.approx(1.0 - 2 / 4)
    assert idle == pytest.approx(300.0 / policy.idle_cap_seconds)
    assert aht == pytest.approx(ref / (ref + seed))
    assert sticky == 1.0
    w = policy.weights
    assert total == pytest.approx(
        w.skill * skill
        + w.preferred_skill * pref
        + w.tier * tier
        + w.idle * idle
        + w.handle_time * aht
        + w.sticky * sticky
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

BAD_AGENT_ARGS: list[tuple[str, dict[str, object]]] = [
    ("tier 0", {"tier": 0}),
    ("tier 6", {"tier": 6}),
    ("duplicate skill", {"skills": ((1, 3), (1, 4))}),
    ("level 0", {"skills": ((1, 0),)}),
    ("level 11", {"skills": ((1, 11),)}),
    ("negative skill", {"skills": ((-1, 3),)}),
    ("short capacity", {"capacity": (1, 1, 3)}),
    ("capacity 256", {"capacity": (256, 1, 3, 3, 3, 5)}),
    ("negative load", {"load": (0, 0, -1, 0, 0, 0)}),
    ("long load", {"load": (0,) * (N_CHANNELS + 1)}),
]


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


BAD_INTERACTION_ARGS: list[tuple[str, dict[str, object]]] = [
    ("channel -1", {"channel": -1}),
    ("channel 6", {"channel": N_CHANNELS}),
    ("sla 0", {"sla": 0.0}),
    ("sla negative", {"sla": -5.0}),
    ("target tier 0", {"target_tier": 0}),
    ("target tier 6", {"target_tier": 6}),
    ("escalation -1", {"escalation": -1}),
    ("duplicate required", {"required": ((2, 1), (2, 5))}),
    ("duplicate preferred", {"preferred": ((2, 1), (2, 5))}),
    ("required level 0", {"required": ((2, 0),)}),
    ("required level 11", {"required": ((2, 11),)}),
    ("preferred level 11", {"preferred": ((2, 11),)}),
    ("negative skill", {"required": ((-3, 1),)}),
    ("nine required", {"required": tuple((s, 1) for s in range(9))}),
    ("nine preferred", {"preferred": tuple((s, 1) for s in range(9))}),
]


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


UNKNOWN_ID_CALLS: list[tuple[str, Callable[[Core], object]]] = [
    ("eligibility/agent", lambda c: c.eligibility("i", "nobody", 0.0)),
    ("eligibility/interaction", lambda c: c.eligibility("nothing", "a", 0.0)),
    ("score_terms/agent", lambda c: c.score_terms("i", "nobody", 0.0)),
    ("score_terms/interaction", lambda c: c.score_terms("nothing", "a", 0.0)),
    ("pair_value", lambda c: c.pair_value("i", "nobody", 0.0)),
    ("score_matrix/agent", lambda c: c.score_matrix(["i"], ["a", "nobody"], 0.0)),
    ("score_matrix/interaction", lambda c: c.score_matrix(["nothing"], ["a"], 0.0)),
    ("urgency", lambda c: c.urgency("nothing", 0.0)),
    ("relaxation_step", lambda c: c.relaxation_step("nothing", 0.0)),
    ("best_agent", lambda c: c.best_agent("nothing", 0.0)),
    ("best_interaction", lambda c: c.best_interaction("nobody", 0.0)),
    ("set_agent_state", lambda c: c.set_agent_state("nobody", STATE_AVAILABLE, 0.0)),
    ("set_agent_load", lambda c: c.set_agent_load("nobody", CHAT, 1)),
    ("set_handle_time", lambda c: c.set_handle_time("nobody", CHAT, -1, 10.0)),
    ("exclude_agent", lambda c: c.exclude_agent("nothing", "a")),
    ("agent_idle_since", lambda c: c.agent_idle_since("nobody")),
]


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
