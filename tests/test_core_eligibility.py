"""The core's hard rules, on both implementations: eligibility, its reason codes,
multitasking."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from cim_router._core_common import (
    ELIGIBLE,
    EXCLUDED,
    N_CHANNELS,
    NO_CAPACITY,
    NOT_AVAILABLE,
    NOT_IN_QUEUE,
    QUEUE_DELAY,
    REASONS,
    SKILL_LEVEL,
    SKILL_MISSING,
    STATE_AVAILABLE,
    TIER,
)
from cim_router.domain import (
    Channel,
    Policy,
)
from cim_router.domain.channel import DEFAULT_CAPACITY

if TYPE_CHECKING:
    from tests.conftest import MakeCore
from tests.core_rules import (
    CHAT,
    EMAIL,
    NO_LOAD,
    NOT_READY,
    OFFLINE,
    SMS,
    SOCIAL,
    VIDEO,
    VOICE,
    WRAP_UP,
    add_agent,
    add_interaction,
    with_capacity,
    with_load,
)

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
        "not_in_queue": NOT_IN_QUEUE,
        "queue_delay": QUEUE_DELAY,
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
