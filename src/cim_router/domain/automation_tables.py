"""Automation rules in the policy file: `[[rules]]` tables, read into `AutomationRule`s
and checked against the policy's queues, every error naming the rule and the key.

    [[rules]]
    name = "negative-sentiment"
    when = ["context.sentiment < -0.5", "channel == chat"]
    then = "escalate"
    on = ["context"]                 # default: enqueued, context, waiting
    reason = "negative sentiment"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cim_router.domain.automation import (
    MAX_AUTOMATION_RULES,
    Action,
    AutomationRule,
    Trigger,
    check_rule,
    parse_condition,
)
from cim_router.domain.errors import ValidationError
from cim_router.domain.table_values import boolean as _boolean
from cim_router.domain.table_values import integer as _integer
from cim_router.domain.table_values import skills as _skills
from cim_router.domain.table_values import string as _string

RULE_KEYS = frozenset(
    {
        "name",
        "when",
        "then",
        "on",
        "queues",
        "repeat",
        "priority",
        "skills",
        "queue",
        "to_back",
        "tag",
        "event",
        "reason",
    }
)


def rules_from_list(data: Any, where: str, queues: Mapping[str, Any]) -> tuple[AutomationRule, ...]:
    """The `rules` array; names must be unique."""
    if not isinstance(data, list):
        raise ValidationError(where, "must be an array of tables ([[rules]])")
    if len(data) > MAX_AUTOMATION_RULES:
        raise ValidationError(where, f"at most {MAX_AUTOMATION_RULES} rules")
    out: list[AutomationRule] = []
    seen: set[str] = set()
    for k, table in enumerate(data):
        rule = rule_from_mapping(table, f"{where}[{k}]", queues)
        if rule.name in seen:
            raise ValidationError(f"{where}[{k}].name", f"a second rule named {rule.name!r}")
        seen.add(rule.name)
        out.append(rule)
    return tuple(out)


def rule_from_mapping(data: Any, where: str, queues: Mapping[str, Any]) -> AutomationRule:
    """One `[[rules]]` table; an error names the key (`rules[0].when[1]`) and the rule."""
    if not isinstance(data, Mapping):
        raise ValidationError(where, "must be a table")
    name = data.get("name", "")
    try:
        return _rule(data, where, queues)
    except ValidationError as exc:
        if isinstance(name, str) and name:
            raise ValidationError(exc.field, f"rule {name!r}: {exc.reason}") from None
        raise


def _rule(data: Mapping[str, Any], where: str, queues: Mapping[str, Any]) -> AutomationRule:
    for key in data:
        if key not in RULE_KEYS:
            raise ValidationError(f"{where}.{key}", "unknown key")
    name = _string(data.get("name", ""), f"{where}.name")
    when = data.get("when")
    if when is None:
        raise ValidationError(f"{where}.when", "is required")
    texts = [when] if isinstance(when, str) else when
    if not isinstance(texts, list):
        raise ValidationError(f"{where}.when", "must be a condition or an array of them")
    conditions = tuple(parse_condition(t, f"{where}.when[{k}]") for k, t in enumerate(texts))
    then = data.get("then")
    actions = [a.value for a in Action]
    if then not in actions:
        raise ValidationError(f"{where}.then", f"must be one of {', '.join(actions)}, got {then!r}")
    on = data.get("on", [t.value for t in Trigger])
    triggers = [t.value for t in Trigger]
    if not isinstance(on, list) or any(t not in triggers for t in on):
        raise ValidationError(f"{where}.on", f"must be an array of {', '.join(triggers)}")
    in_queues = data.get("queues", [])
    if not isinstance(in_queues, list) or not all(isinstance(q, str) for q in in_queues):
        raise ValidationError(f"{where}.queues", "must be an array of queue ids")
    rule = AutomationRule(
        name=name,
        conditions=conditions,
        action=Action(then),
        on=frozenset(Trigger(t) for t in on),
        queues=frozenset(in_queues),
        repeat=_boolean(data.get("repeat", False), f"{where}.repeat"),
        priority=_integer(data.get("priority", 0), f"{where}.priority"),
        skills=_skills(data.get("skills", []), f"{where}.skills"),
        queue=_string(data.get("queue", ""), f"{where}.queue"),
        to_back=_boolean(data.get("to_back", False), f"{where}.to_back"),
        tag=_string(data.get("tag", ""), f"{where}.tag"),
        event=_string(data.get("event", ""), f"{where}.event"),
        reason=_string(data.get("reason", ""), f"{where}.reason"),
    )
    check_rule(rule, where, queues)
    return rule
