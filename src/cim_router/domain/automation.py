"""Automation rules: declared in the policy, looked at when an interaction is enqueued,
when its context changes and as it waits; each has conditions (all must hold) over the
interaction and one action.

A condition is written `FIELD OP VALUE` (`context.sentiment < -0.5`, `channel == chat`,
`wait_seconds >= 120`) or `FIELD exists` / `FIELD missing`. Fields: `context.KEY[.KEY...]`
(a value of the context; a comparison with a number holds only for a number), and
`wait_seconds`, `escalation_level`, `priority` (numbers), `channel`, `queue`,
`customer_tier`, `state` (names: `==` and `!=` only). Values: numbers, `true`/`false`,
quoted strings, or a bare word (a name).
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cim_router.domain.channel import Channel
from cim_router.domain.errors import ValidationError
from cim_router.domain.interaction import InteractionState, SkillRequirement, check_requirements
from cim_router.domain.limits import MAX_PRIORITY, check_id, check_text

MAX_AUTOMATION_RULES = 64
MAX_CONDITIONS = 8
MAX_TAGS = 16  # tags an interaction carries at most
MAX_TAG_LENGTH = 64

Value = float | str | bool | None


class Trigger(enum.Enum):
    ENQUEUED = "enqueued"  # Enqueue, after the queue's overflow rules
    CONTEXT = "context"  # UpdateContext changed the context
    WAITING = "waiting"  # a `wait_seconds` threshold of the rule was reached


class Action(enum.Enum):
    ESCALATE = "escalate"  # as Escalate: one level up; assigned work as a warm transfer
    RAISE_PRIORITY = "raise_priority"
    ADD_SKILLS = "add_skills"
    DROP_SKILLS = "drop_skills"
    MOVE = "move"  # waiting work only
    TAG = "tag"
    EMIT = "emit"  # only the RULE_FIRED event, its reason naming `event`


class Kind(enum.Enum):
    NUMBER = "number"
    NAME = "name"
    ANY = "any"  # a context value


FIELDS: Mapping[str, Kind] = {
    "wait_seconds": Kind.NUMBER,
    "escalation_level": Kind.NUMBER,
    "priority": Kind.NUMBER,
    "channel": Kind.NAME,
    "queue": Kind.NAME,
    "customer_tier": Kind.NAME,
    "state": Kind.NAME,
}
ORDER_OPS = ("<", "<=", ">", ">=")
EQUAL_OPS = ("==", "!=")
PRESENCE_OPS = ("exists", "missing")
_COMPARE = re.compile(
    r"^\s*(?P<field>[A-Za-z_][\w.\-]*)\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<value>.+?)\s*$"
)
_PRESENCE = re.compile(r"^\s*(?P<field>[A-Za-z_][\w.\-]*)\s+(?P<op>exists|missing)\s*$")
_STATES = {s.name.lower(): s for s in InteractionState}


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Value = None

    def __str__(self) -> str:
        if self.op in PRESENCE_OPS:
            return f"{self.field} {self.op}"
        return f"{self.field} {self.op} {self.value!r}"


@dataclass(frozen=True)
class AutomationRule:
    name: str
    conditions: tuple[Condition, ...]
    action: Action
    on: frozenset[Trigger] = frozenset(Trigger)
    queues: frozenset[str] = frozenset()  # empty: every queue
    repeat: bool = False  # fire each time it is looked at and holds (else once)
    priority: int = 0  # RAISE_PRIORITY
    skills: tuple[SkillRequirement, ...] = ()  # ADD_SKILLS, DROP_SKILLS
    queue: str = ""  # MOVE
    to_back: bool = False  # MOVE
    tag: str = ""  # TAG
    event: str = ""  # EMIT; ESCALATE: the reason recorded
    reason: str = ""  # ESCALATE

    def wait_thresholds(self) -> list[float]:
        """Wait times at which the rule may start to hold (for WAITING timers): a
        millisecond past the threshold for `>`."""
        return [
            c.value + (0.001 if c.op == ">" else 0.0)
            for c in self.conditions
            if c.field == "wait_seconds" and c.op in (">", ">=") and isinstance(c.value, float)
        ]

    def channels(self) -> frozenset[Channel] | None:
        """The channels the rule is limited to by a `channel ==` condition, or None."""
        for c in self.conditions:
            if c.field == "channel" and c.op == "==" and isinstance(c.value, str):
                return frozenset({Channel.parse(c.value)})
        return None


# --- parsing ------------------------------------------------------------------------------


def parse_condition(text: str, where: str) -> Condition:
    if not isinstance(text, str):
        raise ValidationError(where, 'must be a string such as "context.sentiment < -0.5"')
    m = _PRESENCE.match(text) or _COMPARE.match(text)
    if m is None:
        raise ValidationError(where, f"cannot read {text!r}: FIELD OP VALUE or FIELD exists")
    name, op = m.group("field"), m.group("op")
    kind = _kind(name, where)
    if op in PRESENCE_OPS:
        if kind != Kind.ANY:
            raise ValidationError(where, f"{op} applies to context fields only")
        return Condition(name, op)
    value = _literal(m.group("value"), where)
    if op in ORDER_OPS and not isinstance(value, float):
        raise ValidationError(where, f"{op} compares numbers; {value!r} is not one")
    if kind == Kind.NUMBER and not isinstance(value, float):
        raise ValidationError(where, f"{name} is a number; {value!r} is not one")
    if kind == Kind.NAME:
        if op not in EQUAL_OPS:
            raise ValidationError(where, f"{name} is a name: only == and != apply")
        if not isinstance(value, str):
            raise ValidationError(where, f"{name} is a name; {value!r} is not one")
        _check_name(name, value, where)
        if name in ("channel", "state"):
            value = value.lower()
    return Condition(name, op, value)


def _kind(name: str, where: str) -> Kind:
    if name.startswith("context."):
        if any(not part for part in name.split(".")[1:]):
            raise ValidationError(where, f"bad context path {name!r}")
        return Kind.ANY
    found = FIELDS.get(name)
    if found is None:
        known = ", ".join(["context.KEY", *FIELDS])
        raise ValidationError(where, f"unknown field {name!r} (known: {known})")
    return found


def _check_name(field_: str, value: str, where: str) -> None:
    if field_ == "channel":
        try:
            Channel.parse(value)
        except ValueError:
            raise ValidationError(where, f"unknown channel {value!r}") from None
    if field_ == "state" and value.lower() not in _STATES:
        raise ValidationError(where, f"unknown state {value!r}")


def _literal(raw: str, where: str) -> Value:
    if raw in ("true", "false"):
        return raw == "true"
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        return raw[1:-1]
    try:
        number = float(raw)
    except ValueError:
        if re.fullmatch(r"[\w.\-]+", raw):
            return raw  # a bare name
        raise ValidationError(where, f"cannot read the value {raw!r}") from None
    if not math.isfinite(number):
        raise ValidationError(where, "numbers must be finite")
    return number


def check_rule(rule: AutomationRule, where: str, queues: Mapping[str, Any]) -> None:
    """The rule as a whole: its action's arguments, and that the action can apply to the
    work it is limited to (a move to a queue that takes the rule's channel)."""
    check_id(f"{where}.name", rule.name)
    if "/" in rule.name:
        raise ValidationError(f"{where}.name", "must not contain '/' (overflow rules use it)")
    if not rule.conditions:
        raise ValidationError(f"{where}.when", "needs at least one condition")
    if len(rule.conditions) > MAX_CONDITIONS:
        raise ValidationError(f"{where}.when", f"at most {MAX_CONDITIONS} conditions")
    if not rule.on:
        raise ValidationError(f"{where}.on", "needs at least one of enqueued, context, waiting")
    for queue_id in rule.queues:
        if queue_id not in queues:
            raise ValidationError(f"{where}.queues", f"no queue {queue_id!r}")
    a = rule.action
    if a == Action.RAISE_PRIORITY and not 0 < rule.priority <= MAX_PRIORITY:
        raise ValidationError(f"{where}.priority", f"must be 1..{MAX_PRIORITY}")
    if a in (Action.ADD_SKILLS, Action.DROP_SKILLS):
        if not rule.skills:
            raise ValidationError(f"{where}.skills", "must not be empty")
        check_requirements(f"{where}.skills", rule.skills)
    if a == Action.TAG:
        if not rule.tag:
            raise ValidationError(f"{where}.tag", "must not be empty")
        check_text(f"{where}.tag", rule.tag, MAX_TAG_LENGTH)
    if a == Action.EMIT:
        if not rule.event:
            raise ValidationError(f"{where}.event", "must not be empty")
        check_text(f"{where}.event", rule.event, MAX_TAG_LENGTH)
    if a == Action.MOVE:
        target = queues.get(rule.queue)
        if target is None:
            raise ValidationError(f"{where}.queue", f"no queue {rule.queue!r}")
        channels = rule.channels()
        if channels is not None and not all(target.accepts(c) for c in channels):
            name = next(iter(channels)).name.lower()
            raise ValidationError(
                f"{where}.queue",
                f"queue {rule.queue!r} does not take {name}: the rule is for {name}",
            )


# --- evaluation ---------------------------------------------------------------------------


def lookup(context: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """(found, value) of a dotted path below the context."""
    node: Any = context
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def holds(c: Condition, facts: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    """Whether one condition holds, given the interaction's `facts` (FIELDS by name) and
    context."""
    if c.field.startswith("context."):
        found, actual = lookup(context, c.field[len("context.") :])
        if c.op in PRESENCE_OPS:
            return found == (c.op == "exists")
        if not found:
            return False
    else:
        actual = facts[c.field]
    return _compare(actual, c.op, c.value)


def _compare(actual: Any, op: str, value: Value) -> bool:
    if isinstance(value, float):
        if isinstance(actual, bool) or not isinstance(actual, (int, float)):
            return op == "!="
        a = float(actual)
        return {
            "<": a < value,
            "<=": a <= value,
            ">": a > value,
            ">=": a >= value,
            "==": a == value,
            "!=": a != value,
        }[op]
    if isinstance(value, bool):
        same = isinstance(actual, bool) and actual == value
    elif isinstance(value, str):
        same = isinstance(actual, str) and actual == value
    else:
        same = actual is None
    return same if op == "==" else not same
