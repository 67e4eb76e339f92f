"""Validation of agents and interactions at the edge of the domain, and channel names."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cim_router.domain import (
    CHANNELS,
    DEFAULT_CAPACITY,
    Agent,
    AgentState,
    Channel,
    Interaction,
    SkillRequirement,
)
from cim_router.domain.errors import ValidationError
from cim_router.domain.limits import (
    MAX_CUSTOMER_TIER_LENGTH,
    MAX_DISPLAY_NAME_LENGTH,
    MAX_ID_LENGTH,
    MAX_SKILLS_PER_AGENT,
    MAX_SLA_SECONDS,
)


def good_agent() -> Agent:
    return Agent(
        id="agent-1",
        skills={"billing": 1, "tech": 10},
        tier=5,
        capacity={Channel.VOICE: 0, Channel.CHAT: 255},
        state=AgentState.AVAILABLE,
        handle_time={("", Channel.CHAT): 120.0, ("billing", Channel.VOICE): 0.5},
    )


def good_interaction() -> Interaction:
    return Interaction(
        id="x" * MAX_ID_LENGTH,
        channel=Channel.CHAT,
        required=tuple(SkillRequirement(f"s{k}", 10) for k in range(8)),
        preferred=tuple(SkillRequirement(f"p{k}", 1) for k in range(8)),
        priority=100,
        sla_seconds=0.0,
        escalation_level=10,
        preferred_agent="agent-1",
        excluded_agents=frozenset({"agent-2"}),
    )


def test_valid_agent_and_interaction_pass() -> None:
    good_agent().validate()
    good_interaction().validate()
    Agent(id="a").validate()
    Interaction(id="i", channel=Channel.EMAIL).validate()


AGENT_CASES: list[tuple[str, Agent, str]] = [
    ("empty id", replace(good_agent(), id=""), "agent.id"),
    ("long id", replace(good_agent(), id="a" * (MAX_ID_LENGTH + 1)), "agent.id"),
    ("unprintable id", replace(good_agent(), id="a\nb"), "agent.id"),
    ("proficiency 0", replace(good_agent(), skills={"billing": 0}), "agent.skills['billing']"),
    ("proficiency 11", replace(good_agent(), skills={"tech": 11}), "agent.skills['tech']"),
    ("empty skill name", replace(good_agent(), skills={"": 3}), "agent.skills['']"),
    (
        "long skill name",
        replace(good_agent(), skills={"s" * 65: 3}),
        f"agent.skills[{'s' * 32!r}...]",
    ),
    ("NUL in skill name", replace(good_agent(), skills={"a\x00b": 3}), "agent.skills['a\\x00b']"),
    (
        "too many skills",
        replace(good_agent(), skills={f"s{k}": 1 for k in range(MAX_SKILLS_PER_AGENT + 1)}),
        "agent.skills",
    ),
    (
        "long display name",
        replace(good_agent(), display_name="d" * (MAX_DISPLAY_NAME_LENGTH + 1)),
        "agent.display_name",
    ),
    ("NUL in display name", replace(good_agent(), display_name="a\x00"), "agent.display_name"),
    ("tier 0", replace(good_agent(), tier=0), "agent.tier"),
    ("tier 6", replace(good_agent(), tier=6), "agent.tier"),
    ("capacity 256", replace(good_agent(), capacity={Channel.EMAIL: 256}), "agent.capacity[email]"),
    ("capacity -1", replace(good_agent(), capacity={Channel.SMS: -1}), "agent.capacity[sms]"),
    (
        "handle time 0",
        replace(good_agent(), handle_time={("", Channel.VIDEO): 0.0}),
        "agent.handle_time[video]",
    ),
]


@pytest.mark.parametrize(
    ("agent", "field"), [c[1:] for c in AGENT_CASES], ids=[c[0] for c in AGENT_CASES]
)
def test_agent_validation_names_the_field(agent: Agent, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        agent.validate()
    assert info.value.field == field
    assert info.value.reason
    assert str(info.value) == f"{field}: {info.value.reason}"
    assert isinstance(info.value, ValueError)


def req(*names: str, level: int = 1) -> tuple[SkillRequirement, ...]:
    return tuple(SkillRequirement(n, level) for n in names)


INTERACTION_CASES: list[tuple[str, Interaction, str]] = [
    ("empty id", replace(good_interaction(), id=""), "interaction.id"),
    ("long id", replace(good_interaction(), id="i" * (MAX_ID_LENGTH + 1)), "interaction.id"),
    (
        "too many required",
        replace(good_interaction(), required=req(*"abcdefghi")),
        "interaction.required",
    ),
    (
        "too many preferred",
        replace(good_interaction(), preferred=req(*"abcdefghi")),
        "interaction.preferred",
    ),
    (
        "duplicate required",
        replace(good_interaction(), required=req("a", "b", "a")),
        "interaction.required[2].skill",
    ),
    (
        "duplicate preferred",
        replace(good_interaction(), preferred=req("p", "p")),
        "interaction.preferred[1].skill",
    ),
    (
        "required level 0",
        replace(good_interaction(), required=req("a", level=0)),
        "interaction.required[0].min_level",
    ),
    (
        "required level 11",
        replace(good_interaction(), required=req("a", level=11)),
        "interaction.required[0].min_level",
    ),
    (
        "preferred level 11",
        replace(good_interaction(), preferred=req("b", level=11)),
        "interaction.preferred[0].min_level",
    ),
    (
        "empty skill name",
        replace(good_interaction(), required=req("")),
        "interaction.required[0].skill",
    ),
    (
        "NUL in skill name",
        replace(good_interaction(), required=req("a\x00")),
        "interaction.required[0].skill",
    ),
    (
        "sla above the bound",
        replace(good_interaction(), sla_seconds=MAX_SLA_SECONDS + 1.0),
        "interaction.sla_seconds",
    ),
    (
        "infinite sla",
        replace(good_interaction(), sla_seconds=float("inf")),
        "interaction.sla_seconds",
    ),
    (
        "long customer tier",
        replace(good_interaction(), customer_tier="t" * (MAX_CUSTOMER_TIER_LENGTH + 1)),
        "interaction.customer_tier",
    ),
    ("priority -1", replace(good_interaction(), priority=-1), "interaction.priority"),
    ("priority 101", replace(good_interaction(), priority=101), "interaction.priority"),
    ("negative sla", replace(good_interaction(), sla_seconds=-1.0), "interaction.sla_seconds"),
    (
        "escalation 11",
        replace(good_interaction(), escalation_level=11),
        "interaction.escalation_level",
    ),
    (
        "escalation -1",
        replace(good_interaction(), escalation_level=-1),
        "interaction.escalation_level",
    ),
    (
        "long preferred agent",
        replace(good_interaction(), preferred_agent="a" * 129),
        "interaction.preferred_agent",
    ),
    (
        "empty excluded agent",
        replace(good_interaction(), excluded_agents=frozenset({""})),
        "interaction.excluded_agents",
    ),
]


@pytest.mark.parametrize(
    ("interaction", "field"),
    [c[1:] for c in INTERACTION_CASES],
    ids=[c[0] for c in INTERACTION_CASES],
)
def test_interaction_validation_names_the_field(interaction: Interaction, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        interaction.validate()
    assert info.value.field == field
    assert info.value.reason
    assert str(info.value) == f"{field}: {info.value.reason}"


def test_first_bad_field_is_reported() -> None:
    agent = replace(good_agent(), id="", tier=9)
    with pytest.raises(ValidationError) as info:
        agent.validate()
    assert info.value.field == "agent.id"


@pytest.mark.parametrize(
    ("name", "channel"),
    [
        ("voice", Channel.VOICE),
        ("VIDEO", Channel.VIDEO),
        (" Chat ", Channel.CHAT),
        ("sms", Channel.SMS),
        ("social", Channel.SOCIAL),
        ("Email", Channel.EMAIL),
        (0, Channel.VOICE),
        (5, Channel.EMAIL),
        (Channel.SMS, Channel.SMS),
    ],
)
def test_channel_parse_accepts(name: str | int | Channel, channel: Channel) -> None:
    assert Channel.parse(name) is channel


@pytest.mark.parametrize("name", ["fax", "", "voic", "phone", 6, -1])
def test_channel_parse_rejects(name: str | int) -> None:
    with pytest.raises(ValueError):
        Channel.parse(name)


def test_unknown_channel_message_names_it() -> None:
    with pytest.raises(ValueError, match="fax"):
        Channel.parse("fax")


def test_channels_and_default_capacity() -> None:
    assert [int(c) for c in CHANNELS] == list(range(6))
    assert set(DEFAULT_CAPACITY) == set(Channel)
    assert DEFAULT_CAPACITY[Channel.VOICE] == 1
    assert DEFAULT_CAPACITY[Channel.CHAT] == 3
    assert DEFAULT_CAPACITY[Channel.EMAIL] == 5
    agent = Agent(id="a")
    assert agent.capacity == DEFAULT_CAPACITY
    assert agent.capacity is not DEFAULT_CAPACITY
    assert agent.capacity_of(Channel.EMAIL) == 5
    assert agent.load_of(Channel.CHAT) == 0
