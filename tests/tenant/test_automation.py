"""Automation rules on one tenant (in-memory store, manual clock): each kind of condition
and each action, the three triggers, once or repeatable, and policy files with bad rules
refused naming the rule and the key."""

from __future__ import annotations

from typing import Any

import pytest

from cim_router.domain.agent import AgentState
from cim_router.domain.channel import Channel
from cim_router.domain.interaction import InteractionState, SkillRequirement
from cim_router.domain.policy import Policy, PolicyError, policy_from_mapping
from cim_router.tenant import reports
from cim_router.tenant.records import EventType
from tests.tenant.harness import Harness, run


def policy(*rules: dict[str, Any], **extra: Any) -> Policy:
    return policy_from_mapping({"rules": list(rules), **extra})


async def started(*rules: dict[str, Any], **extra: Any) -> Harness:
    return await Harness(policy(*rules, **extra)).start()


async def update(h: Harness, iid: str, **context: Any) -> None:
    await h.call(lambda r: reports.update_context(r, iid, dict(context), []))


async def fired_events(h: Harness, iid: str) -> list[tuple[str, str, str]]:
    _, events = await reports.get_interaction(h.router(), iid)
    return [(e.rule, e.reason, e.caller) for e in events if e.type == EventType.RULE_FIRED]


# --- the seed's flow ---------------------------------------------------------------------------


SENTIMENT = {
    "name": "negative-sentiment",
    "when": ["context.sentiment < -0.5", "channel == chat"],
    "then": "escalate",
    "on": ["context"],
    "reason": "negative sentiment",
}


def test_negative_sentiment_escalates_an_assigned_chat_to_a_supervisor() -> None:
    async def body() -> None:
        h = await started(SENTIMENT)
        await h.agent("agent", {"support": 5}, tier=1)
        await h.enqueue("chat", Channel.CHAT, {"support": 3}, context={"order": "A-17"})
        await h.accept("chat", "agent")
        await h.agent("super", {"support": 5}, tier=3)  # the supervisor tier (level 1)
        await update(h, "chat", sentiment=-0.8)
        rec = h.get("chat")
        assert rec.interaction.escalation_level == 1
        assert rec.transfer is not None  # a warm transfer: the agent keeps it meanwhile
        assert rec.agent_id == "agent"
        assert rec.offer is not None and rec.offer.agent_id == "super"
        assert rec.interaction.context["order"] == "A-17"
        assert rec.rules_fired == ("negative-sentiment",)
        assert await fired_events(h, "chat") == [("negative-sentiment", "", "router")]
        await h.accept("chat", "super")
        assert h.get("chat").agent_id == "super"
        assert h.get("chat").interaction.context == {"order": "A-17", "sentiment": -0.8}

    run(body)


def test_a_rule_fires_once_unless_repeatable() -> None:
    async def body() -> None:
        tag = {"name": "unhappy", "when": "context.sentiment < 0", "then": "tag", "tag": "unhappy"}
        emit = {
            "name": "tell",
            "when": "context.sentiment < 0",
            "then": "emit",
            "event": "unhappy-customer",
            "repeat": True,
        }
        h = await started(tag, emit)
        await h.enqueue("i1", Channel.CHAT)
        await update(h, "i1", sentiment=0.5)
        assert await fired_events(h, "i1") == []
        await update(h, "i1", sentiment=-0.1)
        await update(h, "i1", sentiment=-0.2)
        fired = await fired_events(h, "i1")
        assert [name for name, _, _ in fired] == ["unhappy", "tell", "tell"]
        assert fired[1][1] == "unhappy-customer"
        assert h.get("i1").tags == ("unhappy",)
        assert h.get("i1").rules_fired == ("unhappy", "tell")

    run(body)


# --- conditions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "context", "fires"),
    [
        ("context.score >= 3", {"score": 3}, True),
        ("context.score > 3", {"score": 3}, False),
        ("context.score < 3", {"score": "2"}, False),  # a string is not a number
        ('context.segment == "gold"', {"segment": "gold"}, True),
        ("context.segment != gold", {"segment": "silver"}, True),
        ("context.vip == true", {"vip": True}, True),
        ("context.vip == true", {"vip": 1}, False),
        ("context.order.total > 100", {"order": {"total": 250}}, True),
        ("context.complaint exists", {"complaint": ""}, True),
        ("context.complaint missing", {}, True),
        ("context.complaint missing", {"complaint": 1}, False),
        ("channel == email", {}, True),
        ("channel != email", {}, False),
        ("customer_tier == gold", {}, True),
        ("priority >= 20", {}, True),
        ("queue == default", {}, True),
        ("escalation_level == 0", {}, True),
        ("state == queued", {}, True),
    ],
)
def test_conditions_on_enqueue(condition: str, context: dict[str, Any], fires: bool) -> None:
    async def body() -> None:
        rule = {"name": "r", "when": condition, "then": "tag", "tag": "hit", "on": ["enqueued"]}
        h = await started(rule)
        await h.enqueue("i1", Channel.EMAIL, context=context, customer_tier="gold", priority=20)
        assert (h.get("i1").tags == ("hit",)) is fires

    run(body)


def test_wait_seconds_rules_fire_as_work_waits() -> None:
    async def body() -> None:
        h = await started(
            {
                "name": "hurry",
                "when": "wait_seconds >= 45",
                "then": "raise_priority",
                "priority": 30,
                "on": ["waiting"],
            },
            {
                "name": "widen",
                "when": ["wait_seconds > 60", "context.lang == es"],
                "then": "drop_skills",
                "skills": ["spanish"],
            },
        )
        await h.enqueue("i1", Channel.CHAT, {"spanish": 4}, context={"lang": "es"})
        await h.advance(44)
        assert h.get("i1").interaction.priority == 0
        await h.advance(1)
        assert h.get("i1").interaction.priority == 30
        await h.advance(16)
        assert h.get("i1").interaction.required == ()
        assert h.get("i1").rules_fired == ("hurry", "widen")

    run(body)


# --- actions -----------------------------------------------------------------------------------


def test_add_skills_and_the_work_is_routed_on_its_new_terms() -> None:
    async def body() -> None:
        h = await started(
            {
                "name": "legal",
                "when": "context.topic == legal",
                "then": "add_skills",
                "skills": {"legal": 4},
                "on": ["context"],
            }
        )
        await h.agent("plain", {"support": 5})
        await h.agent("lawyer", {"support": 5, "legal": 6}, state=AgentState.NOT_READY)
        await h.set_state("plain", AgentState.NOT_READY)
        await h.enqueue("i1", Channel.CHAT, {"support": 1})
        await update(h, "i1", topic="legal")
        assert h.get("i1").interaction.required == (
            SkillRequirement("support", 1),
            SkillRequirement("legal", 4),
        )
        await h.set_state("plain", AgentState.AVAILABLE)
        assert h.get("i1").interaction.state == InteractionState.QUEUED  # not for plain
        await h.set_state("lawyer", AgentState.AVAILABLE)
        offer = h.get("i1").offer
        assert offer is not None and offer.agent_id == "lawyer"

    run(body)


def test_move_to_a_queue_and_escalate_waiting_work() -> None:
    async def body() -> None:
        h = await started(
            {"name": "vip", "when": "customer_tier == vip", "then": "move", "queue": "vip"},
            {"name": "angry", "when": "context.sentiment < -0.5", "then": "escalate"},
            queues={"vip": {}},
        )
        await h.enqueue("i1", Channel.VOICE, customer_tier="vip")
        assert h.get("i1").interaction.queue_id == "vip"
        await h.enqueue("i2", Channel.VOICE, context={"sentiment": -0.9})
        assert h.get("i2").interaction.escalation_level == 1
        assert h.get("i2").interaction.state == InteractionState.QUEUED

    run(body)


def test_a_rule_that_cannot_apply_now_fires_later() -> None:
    async def body() -> None:
        h = await started({"name": "angry", "when": "context.sentiment < -0.5", "then": "escalate"})
        await h.agent("agent", {}, tier=1)
        await h.agent("other", {}, tier=1)
        await h.enqueue("chat", Channel.CHAT)
        await h.accept("chat", "agent")
        await h.transfer("chat", agent_id="other")  # a warm transfer pending: no escalation
        await update(h, "chat", sentiment=-0.9)
        assert h.get("chat").rules_fired == ()
        await h.accept("chat", "other")
        await update(h, "chat", sentiment=-0.95)
        assert h.get("chat").rules_fired == ("angry",)

    run(body)


def test_a_restart_keeps_tags_and_rules_fired() -> None:
    async def body() -> None:
        h = await started(
            {"name": "t", "when": "context.x exists", "then": "tag", "tag": "seen"},
            {"name": "late", "when": "wait_seconds >= 100", "then": "tag", "tag": "late"},
        )
        await h.enqueue("i1", Channel.EMAIL, context={"x": 1})
        again = await h.restart()
        assert again.get("i1").tags == ("seen",)
        await again.advance(100)
        assert again.get("i1").tags == ("seen", "late")

    run(body)


# --- bad rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "key", "words"),
    [
        ({"when": "colour == red", "then": "tag", "tag": "x"}, "rules[0].when[0]", "unknown field"),
        ({"when": "priority < high", "then": "tag", "tag": "x"}, "rules[0].when[0]", "not one"),
        ({"when": "channel < 3", "then": "tag", "tag": "x"}, "rules[0].when[0]", "only =="),
        ({"when": "channel == fax", "then": "tag", "tag": "x"}, "rules[0].when[0]", "fax"),
        ({"when": "context.x < -", "then": "tag"}, "rules[0].when[0]", "compares numbers"),
        ({"when": "context.x > 1", "then": "shout"}, "rules[0].then", "must be one of"),
        ({"when": "context.x > 1", "then": "tag"}, "rules[0].tag", "must not be empty"),
        (
            {"when": ["channel == chat"], "then": "move", "queue": "phones"},
            "rules[0].queue",
            "does not take chat",
        ),
        ({"when": "context.x > 1", "then": "move", "queue": "gone"}, "rules[0].queue", "gone"),
        ({"when": "context.x > 1", "then": "tag", "tag": "x", "colour": 1}, "rules[0].colour", ""),
    ],
)
def test_bad_rules_fail_the_policy_naming_the_rule_and_the_key(
    rule: dict[str, Any], key: str, words: str
) -> None:
    with pytest.raises(PolicyError) as err:
        policy({"name": "bad-one", **rule}, queues={"phones": {"channels": ["voice"]}})
    assert err.value.key == key
    assert "bad-one" in str(err.value)
    assert words in err.value.reason
