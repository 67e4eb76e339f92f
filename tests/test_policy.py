"""Loading the routing policy: defaults, a full file, and every kind of mistake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cim_router._core_common import CoreParams
from cim_router.domain import Channel, Policy, PolicyError, RelaxationStep, load_policy
from cim_router.domain.policy import CustomerTier, Weights, policy_from_mapping

FULL = """
matching = "joint"
joint_batch_limit = 250
offer_timeout_seconds = 12.5
max_missed_offers = 4
sticky_agent_seconds = 3600
exclusive_channels = ["voice", "VIDEO", "email"]
idle_cap_seconds = 900
handle_time_reference_seconds = 240
handle_time_alpha = 0.3
aging_rate = 12
aging_cap = 25.5

[weights]
skill = 2.0
preferred_skill = 0.75
tier = 0.25
idle = 1.5
handle_time = 0.5
sticky = 3
urgency = 0.5

[escalation]
min_agent_tier = [1, 2, 2, 4]
priority_bonus = 7.5

[[relaxation]]
after_seconds = 20
level_drop = 1

[[relaxation]]
after_seconds = 45.5
level_drop = 1
drop_preferred = true

[[relaxation]]
after_seconds = 120
level_drop = 3

[customer_tiers.standard]

[customer_tiers.gold]
bonus = 5
target_agent_tier = 2

[customer_tiers.platinum]
bonus = 30.5
target_agent_tier = 5

[sla_seconds]
voice = 15
video = 25
chat = 45
sms = 200
social = 400
email = 7200

[wrap_up_seconds]
voice = 20
video = 0
chat = 3
sms = 4
social = 6
email = 15

[handle_time_seconds]
voice = 180
video = 360
chat = 420
sms = 500
social = 600
email = 900
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    assert load_policy() == Policy()
    assert load_policy(None) == Policy()
    assert policy_from_mapping({}) == Policy()


def test_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_policy(write(tmp_path, "")) == Policy()


def test_defaults_are_sane() -> None:
    p = Policy()
    assert p.matching == "greedy"
    assert p.offer_timeout_seconds == 15.0
    assert p.max_missed_offers == 2
    assert p.exclusive_channels == {Channel.VOICE, Channel.VIDEO}
    assert set(p.sla_seconds) == set(Channel)
    assert set(p.wrap_up_seconds) == set(Channel)
    assert set(p.handle_time_seconds) == set(Channel)
    assert "standard" in p.customer_tiers
    steps = [s.after_seconds for s in p.relaxation]
    assert steps == sorted(steps)
    assert list(p.escalation_min_tier) == sorted(p.escalation_min_tier)


def test_full_file_round_trips(tmp_path: Path) -> None:
    p = load_policy(write(tmp_path, FULL))
    assert p.matching == "joint"
    assert p.joint_batch_limit == 250
    assert p.offer_timeout_seconds == 12.5
    assert p.max_missed_offers == 4
    assert p.sticky_agent_seconds == 3600.0
    assert p.exclusive_channels == frozenset({Channel.VOICE, Channel.VIDEO, Channel.EMAIL})
    assert p.idle_cap_seconds == 900.0
    assert p.handle_time_reference_seconds == 240.0
    assert p.handle_time_alpha == 0.3
    assert p.aging_rate == 12.0
    assert p.aging_cap == 25.5
    assert p.weights == Weights(
        skill=2.0,
        preferred_skill=0.75,
        tier=0.25,
        idle=1.5,
        handle_time=0.5,
        sticky=3.0,
        urgency=0.5,
    )
    assert p.escalation_min_tier == (1, 2, 2, 4)
    assert p.escalation_bonus == 7.5
    assert p.relaxation == (
        RelaxationStep(20.0, 1, False),
        RelaxationStep(45.5, 1, True),
        RelaxationStep(120.0, 3, False),
    )
    assert dict(p.customer_tiers) == {
        "standard": CustomerTier(0.0, 1),
        "gold": CustomerTier(5.0, 2),
        "platinum": CustomerTier(30.5, 5),
    }
    ch = Channel
    assert dict(p.sla_seconds) == {
        ch.VOICE: 15,
        ch.VIDEO: 25,
        ch.CHAT: 45,
        ch.SMS: 200,
        ch.SOCIAL: 400,
        ch.EMAIL: 7200,
    }
    assert dict(p.wrap_up_seconds) == {
        ch.VOICE: 20,
        ch.VIDEO: 0,
        ch.CHAT: 3,
        ch.SMS: 4,
        ch.SOCIAL: 6,
        ch.EMAIL: 15,
    }
    assert dict(p.handle_time_seconds) == {
        ch.VOICE: 180,
        ch.VIDEO: 360,
        ch.CHAT: 420,
        ch.SMS: 500,
        ch.SOCIAL: 600,
        ch.EMAIL: 900,
    }
    assert all(isinstance(v, float) for v in p.sla_seconds.values())
    # Derived lookups follow the file.
    assert [p.min_tier_for(level) for level in range(6)] == [1, 2, 2, 4, 4, 4]
    assert p.customer_tier("platinum").bonus == 30.5
    assert p.customer_tier("unknown") == CustomerTier(0.0, 1)


def test_full_file_reaches_the_core(tmp_path: Path) -> None:
    params = CoreParams.from_policy(load_policy(write(tmp_path, FULL)))
    assert params.w_skill == 2.0
    assert params.relax_after == (20.0, 45.5, 120.0)
    assert params.relax_drop == (1, 1, 3)
    assert params.relax_drop_pref == (False, True, True)  # once dropped, stays dropped
    assert params.esc_min_tier == (1, 2, 2, 4)
    assert params.exclusive == (True, True, False, False, False, True)
    assert params.aht_seed == (180.0, 360.0, 420.0, 500.0, 600.0, 900.0)
    assert params.joint_limit == 250


def test_partial_tables_keep_the_other_defaults(tmp_path: Path) -> None:
    p = load_policy(write(tmp_path, "[weights]\nidle = 2\n\n[sla_seconds]\nchat = 30\n"))
    d = Policy()
    assert p.weights.idle == 2.0
    assert p.weights.skill == d.weights.skill
    assert p.sla_seconds[Channel.CHAT] == 30.0
    assert p.sla_seconds[Channel.VOICE] == d.sla_seconds[Channel.VOICE]
    assert p.relaxation == d.relaxation


def test_an_empty_relaxation_list_disables_relaxation(tmp_path: Path) -> None:
    assert load_policy(write(tmp_path, "relaxation = []\n")).relaxation == ()


# (TOML text, the key the error must name, a fragment of the reason)
BAD: list[tuple[str, str, str, str]] = [
    # unknown keys
    ("unknown top-level key", "colour = 1\n", "colour", "unknown key"),
    ("unknown weight", "[weights]\nskil = 1.0\n", "weights.skil", "unknown key"),
    ("unknown channel in a table", "[sla_seconds]\nfax = 10\n", "sla_seconds.fax", "unknown key"),
    ("unknown escalation key", "[escalation]\nbonus = 1\n", "escalation.bonus", "unknown key"),
    (
        "unknown relaxation key",
        "[[relaxation]]\nafter_seconds = 5\nlevel = 1\n",
        "relaxation[0].level",
        "unknown key",
    ),
    (
        "unknown customer tier key",
        "[customer_tiers.standard]\nbonsu = 1\n",
        "customer_tiers.standard.bonsu",
        "unknown key",
    ),
    # wrong types
    ("string for a number", 'aging_rate = "fast"\n', "aging_rate", "must be a number"),
    ("bool for a number", "[weights]\nskill = true\n", "weights.skill", "must be a number"),
    (
        "float for an integer",
        "joint_batch_limit = 1.5\n",
        "joint_batch_limit",
        "must be an integer",
    ),
    (
        "number for a bool",
        "[[relaxation]]\nafter_seconds = 5\ndrop_preferred = 1\n",
        "relaxation[0].drop_preferred",
        "must be true or false",
    ),
    ("number for a table", "weights = 3\n", "weights", "must be a table"),
    ("string for a list", 'exclusive_channels = "voice"\n', "exclusive_channels", "must be a list"),
    (
        "table for relaxation",
        "[relaxation]\nafter_seconds = 5\n",
        "relaxation",
        "must be an array of tables",
    ),
    ("unknown matching mode", 'matching = "random"\n', "matching", "must be one of"),
    (
        "unknown exclusive channel",
        'exclusive_channels = ["fax"]\n',
        "exclusive_channels",
        "unknown channel",
    ),
    (
        "string tier list",
        '[escalation]\nmin_agent_tier = "1,2"\n',
        "escalation.min_agent_tier",
        "non-empty array",
    ),
    # out of range
    ("negative cap", "aging_cap = -1\n", "aging_cap", ">= 0"),
    ("alpha above 1", "handle_time_alpha = 1.5\n", "handle_time_alpha", "<= 1"),
    ("zero idle cap", "idle_cap_seconds = 0\n", "idle_cap_seconds", "> 0"),
    ("zero batch", "joint_batch_limit = 0\n", "joint_batch_limit", "must be 1..100000"),
    ("infinite rate", "aging_rate = inf\n", "aging_rate", "must be finite"),
    ("nan weight", "[weights]\ntier = nan\n", "weights.tier", "must be finite"),
    ("zero sla", "[sla_seconds]\nvoice = 0\n", "sla_seconds.voice", "> 0"),
    ("negative wrap-up", "[wrap_up_seconds]\nchat = -1\n", "wrap_up_seconds.chat", ">= 0"),
    (
        "customer tier 6",
        "[customer_tiers.standard]\ntarget_agent_tier = 6\n",
        "customer_tiers.standard.target_agent_tier",
        "must be 1..5",
    ),
    (
        "level drop 10",
        "[[relaxation]]\nafter_seconds = 5\nlevel_drop = 10\n",
        "relaxation[0].level_drop",
        "must be 0..9",
    ),
    (
        "negative relaxation time",
        "[[relaxation]]\nafter_seconds = -5\n",
        "relaxation[0].after_seconds",
        ">= 0",
    ),
    (
        "escalation tier 6",
        "[escalation]\nmin_agent_tier = [1, 6]\n",
        "escalation.min_agent_tier",
        "must be 1..5",
    ),
    ("zero missed offers", "max_missed_offers = 0\n", "max_missed_offers", "must be 1..1000"),
    # relaxation steps out of order
    (
        "steps out of order",
        "[[relaxation]]\nafter_seconds = 60\n[[relaxation]]\nafter_seconds = 30\n",
        "relaxation[1].after_seconds",
        "increasing order",
    ),
    (
        "steps at the same time",
        "[[relaxation]]\nafter_seconds = 30\n[[relaxation]]\nafter_seconds = 30\n",
        "relaxation[1].after_seconds",
        "increasing order",
    ),
    (
        "level drop shrinks",
        "[[relaxation]]\nafter_seconds = 30\nlevel_drop = 2\n"
        "[[relaxation]]\nafter_seconds = 60\nlevel_drop = 1\n",
        "relaxation[1].level_drop",
        "previous step",
    ),
    (
        "step without a time",
        "[[relaxation]]\nlevel_drop = 1\n",
        "relaxation[0].after_seconds",
        "is required",
    ),
    # escalation tiers
    (
        "decreasing escalation tiers",
        "[escalation]\nmin_agent_tier = [1, 3, 2]\n",
        "escalation.min_agent_tier",
        "must not decrease",
    ),
    (
        "no escalation tiers",
        "[escalation]\nmin_agent_tier = []\n",
        "escalation.min_agent_tier",
        "non-empty",
    ),
    # customer tiers
    (
        "missing standard tier",
        "[customer_tiers.gold]\nbonus = 5\n",
        "customer_tiers.standard",
        "'standard' customer tier is required",
    ),
    (
        "customer tier not a table",
        "[customer_tiers]\ngold = 5\n",
        "customer_tiers.gold",
        "must be a table",
    ),
]


@pytest.mark.parametrize(("text", "key", "reason"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_malformed_policy_names_key_and_reason(
    tmp_path: Path, text: str, key: str, reason: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    err = info.value
    assert err.key == key
    assert reason in err.reason
    assert str(err) == f"{path}: {key}: {err.reason}"
    assert isinstance(err, ValueError)


MAPPINGS: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown nested key", {"weights": {"skil": 1.0}}, "weights.skil", "unknown key"),
    ("int for a table", {"sla_seconds": 5}, "sla_seconds", "must be a table"),
    ("list for a number", {"aging_cap": [1]}, "aging_cap", "must be a number"),
    ("step not a table", {"relaxation": [5]}, "relaxation[0]", "must be a table"),
    (
        "decreasing tiers",
        {"escalation": {"min_agent_tier": [5, 1]}},
        "escalation.min_agent_tier",
        "must not decrease",
    ),
    ("unknown time zone", {"time_zone": "Nowhere/Atlantis"}, "time_zone", "unknown time zone"),
    ("a path for a zone", {"time_zone": "../etc/passwd"}, "time_zone", "unknown time zone"),
    ("a number for a zone", {"time_zone": 5}, "time_zone", "IANA time zone"),
    ("no FCR window", {"fcr_window_days": 0}, "fcr_window_days", "must be 1..365"),
    ("fractional days", {"fcr_window_days": 1.5}, "fcr_window_days", "must be an integer"),
    (
        "negative short abandon",
        {"short_abandon_seconds": -1},
        "short_abandon_seconds",
        "must be >= 0",
    ),
    ("negative hold limit", {"hold_limit_seconds": -1}, "hold_limit_seconds", "must be >= 0"),
    ("hold limit as text", {"hold_limit_seconds": "5m"}, "hold_limit_seconds", "a number"),
    (
        "no feedback window",
        {"feedback_window_seconds": 0},
        "feedback_window_seconds",
        "must be > 0",
    ),
    (
        "a feedback window past a year",
        {"feedback_window_seconds": 400 * 86400},
        "feedback_window_seconds",
        "must be <=",
    ),
]


def test_the_measures_keys_are_read() -> None:
    p = policy_from_mapping(
        {"time_zone": "Europe/Paris", "fcr_window_days": 3, "short_abandon_seconds": 2}
    )
    assert (p.time_zone, p.fcr_window_days, p.short_abandon_seconds) == ("Europe/Paris", 3, 2.0)


def test_the_hold_and_feedback_keys_are_read() -> None:
    p = policy_from_mapping({"hold_limit_seconds": 300, "feedback_window_seconds": 86400})
    assert (p.hold_limit_seconds, p.feedback_window_seconds) == (300.0, 86400.0)
    assert (Policy().hold_limit_seconds, Policy().feedback_window_seconds) == (0.0, 604800.0)


@pytest.mark.parametrize(
    ("data", "key", "reason"), [m[1:] for m in MAPPINGS], ids=[m[0] for m in MAPPINGS]
)
def test_malformed_mapping_names_key_and_reason(
    data: dict[str, Any], key: str, reason: str
) -> None:
    with pytest.raises(PolicyError) as info:
        policy_from_mapping(data, source="inline")
    assert info.value.key == key
    assert str(info.value).startswith(f"inline: {key}: ")
    assert reason in str(info.value)


def test_mapping_without_source_says_policy() -> None:
    with pytest.raises(PolicyError, match=r"^policy: colour: unknown key$"):
        policy_from_mapping({"colour": "blue"})


@pytest.mark.parametrize(
    "text",
    [
        "aging_rate = \n",
        "[weights\nskill = 1\n",
        'matching = "greedy\n',
        "aging_rate = 1\naging_rate = 2\n",
    ],
    ids=["missing value", "unclosed table", "unclosed string", "duplicate key"],
)
def test_toml_syntax_error(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert info.value.key == "(syntax)"
    assert str(info.value).startswith(f"{path}: (syntax): ")
    assert "line" in info.value.reason


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "policy.toml"
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert info.value.key == "(file)"
    assert "cannot read" in info.value.reason
    assert str(path) in str(info.value)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(tmp_path)
    assert info.value.key == "(file)"


def test_path_as_string(tmp_path: Path) -> None:
    path = write(tmp_path, "aging_cap = 7\n")
    assert load_policy(str(path)).aging_cap == 7.0
