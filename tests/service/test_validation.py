"""The limits of every request field over real gRPC: a bad value is INVALID_ARGUMENT naming
the field as the client spelled it, a value at the limit is accepted, and a refused
request changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from cim_router._pb import router_pb2 as pb
from cim_router.domain import limits
from tests.service.conftest import Client
from tests.service.validation import (
    WARM,
    nested,
    refused,
    struct,
    world,
)

Req = pb.SkillRequirement


# --- skill requirements: one rule set wherever they come -------------------------------------

BAD_REQUIREMENTS: list[tuple[str, list[pb.SkillRequirement], str]] = [
    ("level 11", [Req(skill="billing", min_level=11)], "[0].min_level: must be 1..10, got 11"),
    ("level -1", [Req(skill="billing", min_level=-1)], "[0].min_level: must be 1..10, got -1"),
    (
        "nine skills",
        [Req(skill=f"s{k}") for k in range(limits.MAX_SKILLS_PER_INTERACTION + 1)],
        ": at most 8 skills, got 9",
    ),
    ("listed twice", [Req(skill="a"), Req(skill="b"), Req(skill="a")], "[2].skill: 'a' is listed"),
    ("empty name", [Req(skill="")], "[0].skill: "),
    ("long name", [Req(skill="s" * (limits.MAX_SKILL_NAME_LENGTH + 1))], "[0].skill: "),
    ("NUL in name", [Req(skill="a\x00b")], "[0].skill: "),
]


@pytest.mark.parametrize(
    ("skills", "message"),
    [c[1:] for c in BAD_REQUIREMENTS],
    ids=[c[0] for c in BAD_REQUIREMENTS],
)
def test_transfer_with_a_bad_skill_changes_nothing(
    assigned: Client, skills: list[pb.SkillRequirement], message: str
) -> None:
    client = assigned
    before = world(client, ("i1",))
    details = refused(
        lambda: client.Transfer(
            pb.TransferRequest(
                interaction_id="i1", mode=WARM, skills=pb.SkillTarget(required_skills=skills)
            )
        )
    )
    assert details.startswith("skills.required_skills" + message), details
    assert world(client, ("i1",)) == before
    i = client.get("i1")
    assert i.state == pb.INTERACTION_STATE_ASSIGNED and i.agent_id == "a1"
    assert not i.HasField("transfer")
    # The interaction still works: a good transfer goes through.
    good = [Req(skill="billing", min_level=0)]  # 0 means 1
    t = client.Transfer(
        pb.TransferRequest(
            interaction_id="i1", mode=WARM, skills=pb.SkillTarget(required_skills=good)
        )
    )
    assert list(t.transfer.required_skills) == [Req(skill="billing", min_level=1)]


@pytest.mark.parametrize("field", ["required_skills", "preferred_skills"])
@pytest.mark.parametrize(
    ("skills", "message"),
    [c[1:] for c in BAD_REQUIREMENTS],
    ids=[c[0] for c in BAD_REQUIREMENTS],
)
def test_enqueue_holds_both_skill_lists_to_the_same_rules(
    client: Client, field: str, skills: list[pb.SkillRequirement], message: str
) -> None:
    kw: dict[str, Any] = {field: skills}
    details = refused(lambda: client.enqueue("i1", **kw))
    assert details.startswith(field + message), details
    assert client.GetStats(pb.GetStatsRequest()).waiting == 0


def test_a_requirement_at_the_limits_is_accepted(client: Client) -> None:
    eight = [Req(skill=f"{k}" * limits.MAX_SKILL_NAME_LENGTH, min_level=10) for k in range(8)]
    got = client.enqueue("i1", required_skills=eight, preferred_skills=eight).interaction
    assert list(got.required_skills) == eight


BAD_AGENT_SKILLS: list[tuple[str, dict[str, int], str]] = [
    ("proficiency 0", {"billing": 0}, "skills['billing']: proficiency must be 1..10, got 0"),
    ("proficiency 11", {"billing": 11}, "skills['billing']: proficiency must be 1..10, got 11"),
    ("empty name", {"": 5}, "skills['']: "),
    ("NUL in name", {"a\x00": 5}, "skills['a\\x00']: "),
    ("long name", {"s" * 65: 5}, f"skills[{'s' * 32!r}...]: "),
    (
        "65 skills",
        {f"s{k}": 5 for k in range(limits.MAX_SKILLS_PER_AGENT + 1)},
        "skills: at most 64 skills, got 65",
    ),
]


@pytest.mark.parametrize(
    ("skills", "message"),
    [c[1:] for c in BAD_AGENT_SKILLS],
    ids=[c[0] for c in BAD_AGENT_SKILLS],
)
def test_upsert_agent_skills_are_checked(
    client: Client, skills: dict[str, int], message: str
) -> None:
    client.agent("a1", skills={"billing": 3})
    before = world(client)
    details = refused(lambda: client.agent("a1", skills=skills))
    assert details.startswith(message), details
    assert world(client) == before


def test_sixty_four_agent_skills_are_accepted(client: Client) -> None:
    skills = {f"{k:02}" * 32: 10 for k in range(limits.MAX_SKILLS_PER_AGENT)}
    assert dict(client.agent("a1", skills=skills).skills) == skills


# --- contexts --------------------------------------------------------------------------------

BAD_CONTEXTS: list[tuple[str, dict[str, Any], str]] = [
    ("NaN", {"a": {"b": float("nan")}}, "context.a.b: must be a finite number, got nan"),
    ("Infinity", {"x": float("inf")}, "context.x: must be a finite number, got inf"),
    ("-Infinity in a list", {"l": [1, [float("-inf")]]}, "context.l[1][0]: must be a finite"),
    ("17 levels", nested(17), "context" + ".a" * 16 + ": nesting deeper than 16 levels"),
    ("33 levels", nested(33), "context" + ".a" * 16 + ": nesting deeper than 16 levels"),
    (
        "17 levels of lists",
        {"l": [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]},
        "context.l" + "[0]" * 15 + ": nesting deeper than 16 levels",
    ),
    ("long key", {"k" * 257: 1}, "context: key 'kkkk"),
    ("long nested key", {"a": {"k" * 257: 1}}, "context.a: key "),
    ("empty key", {"a": {"": 1}}, "context.a: keys must not be empty"),
    ("odd key", {"a b": {"c": float("nan")}}, "context['a b'].c: must be a finite number"),
    ("over 64 KiB", {"blob": "x" * limits.MAX_CONTEXT_BYTES}, "context: must be at most 65536"),
]


@pytest.mark.parametrize(
    ("context", "message"),
    [c[1:] for c in BAD_CONTEXTS],
    ids=[c[0] for c in BAD_CONTEXTS],
)
def test_bad_contexts_are_refused_naming_the_path(
    client: Client, context: dict[str, Any], message: str
) -> None:
    client.enqueue("i1", context=struct({"keep": "me"}))
    before = world(client, ("i1",))
    details = refused(lambda: client.enqueue("i2", context=struct(context)))
    assert details.startswith(message), details
    details = refused(
        lambda: client.UpdateContext(
            pb.UpdateContextRequest(interaction_id="i1", context=struct(context))
        )
    )
    assert details.startswith(message), details
    assert world(client, ("i1",)) == before


def test_a_context_at_the_limits_is_accepted_and_served(client: Client) -> None:
    deepest = {**nested(limits.MAX_CONTEXT_DEPTH), "k" * limits.MAX_CONTEXT_KEY_LENGTH: 1.5}
    got = client.enqueue("i1", context=struct(deepest)).interaction
    assert got.context == struct(deepest)
    assert client.get("i1").context == struct(deepest)


def test_the_merged_context_is_held_to_the_size_limit(client: Client) -> None:
    half = "x" * (limits.MAX_CONTEXT_BYTES // 2)
    client.enqueue("i1", context=struct({"a": half}))
    before = world(client, ("i1",))
    details = refused(
        lambda: client.UpdateContext(
            pb.UpdateContextRequest(interaction_id="i1", context=struct({"b": half}))
        )
    )
    assert details.startswith("context: must be at most 65536 bytes as JSON"), details
    assert world(client, ("i1",)) == before
    # Removing the old key in the same call makes room.
    got = client.UpdateContext(
        pb.UpdateContextRequest(interaction_id="i1", context=struct({"b": half}), remove_keys=["a"])
    )
    assert set(got.context.fields) == {"b"}
