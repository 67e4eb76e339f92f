"""Queues as tables: the `[queues.ID]` tables of the policy file, and the same shape as the
store keeps them (one format, read by one function, every error naming its key)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cim_router.domain.channel import CHANNELS, Channel
from cim_router.domain.errors import ValidationError
from cim_router.domain.hours import DAYS, Hours, Interval, hours_from_mapping
from cim_router.domain.interaction import SkillRequirement
from cim_router.domain.queues import (
    OverflowRule,
    Queue,
    ServiceLevelTarget,
    Then,
    When,
    check_queue,
)
from cim_router.domain.table_values import boolean as _boolean
from cim_router.domain.table_values import integer as _integer
from cim_router.domain.table_values import number as _number
from cim_router.domain.table_values import skills as _skills
from cim_router.domain.table_values import string as _string

QUEUE_KEYS = frozenset(
    {
        "display_name",
        "channels",
        "required",
        "preferred",
        "priority",
        "service_level",
        "max_size",
        "max_wait_seconds",
        "hours",
        "overflow",
        "callback_attempts",
        "callback_retry_seconds",
    }
)
RULE_KEYS = frozenset(
    {"name", "when", "threshold", "then", "queue", "to_back", "skills", "priority", "disposition"}
)


def _channels(value: Any, where: str) -> frozenset[Channel]:
    if not isinstance(value, list):
        raise ValidationError(where, "must be a list of channel names")
    out = set()
    for k, name in enumerate(value):
        try:
            out.add(Channel.parse(_string(name, f"{where}[{k}]")))
        except ValueError:
            raise ValidationError(f"{where}[{k}]", f"unknown channel {name!r}") from None
    return frozenset(out)


def _choice(value: Any, where: str, options: type[When] | type[Then]) -> Any:
    names = [o.value for o in options]
    if value not in names:
        raise ValidationError(where, f"must be one of {', '.join(names)}, got {value!r}")
    return options(value)


def _unknown(data: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    for key in data:
        if key not in known:
            raise ValidationError(f"{where}.{key}", "unknown key")


def rule_from_mapping(data: Any, where: str) -> OverflowRule:
    if not isinstance(data, Mapping):
        raise ValidationError(where, "must be a table")
    _unknown(data, RULE_KEYS, where)
    if "when" not in data:
        raise ValidationError(f"{where}.when", "is required")
    if "then" not in data:
        raise ValidationError(f"{where}.then", "is required")
    return OverflowRule(
        name=_string(data.get("name", ""), f"{where}.name"),
        when=_choice(data["when"], f"{where}.when", When),
        then=_choice(data["then"], f"{where}.then", Then),
        threshold=_number(data.get("threshold", 0.0), f"{where}.threshold"),
        queue=_string(data.get("queue", ""), f"{where}.queue"),
        keep_place=not _boolean(data.get("to_back", False), f"{where}.to_back"),
        skills=_skills(data.get("skills", []), f"{where}.skills"),
        priority=_integer(data.get("priority", 0), f"{where}.priority"),
        disposition=_string(data.get("disposition", ""), f"{where}.disposition"),
    )


def queue_from_mapping(queue_id: str, data: Any, where: str) -> Queue:
    """One queue's table; raises ValidationError naming the key (under `where`)."""
    if not isinstance(data, Mapping):
        raise ValidationError(where, "must be a table")
    _unknown(data, QUEUE_KEYS, where)
    sl = data.get("service_level", {})
    if not isinstance(sl, Mapping):
        raise ValidationError(f"{where}.service_level", "must be a table {seconds, share}")
    _unknown(sl, frozenset({"seconds", "share"}), f"{where}.service_level")
    hours = Hours.always_open()
    if "hours" in data:
        raw = data["hours"]
        if not isinstance(raw, Mapping):
            raise ValidationError(f"{where}.hours", "must be a table")
        hours = hours_from_mapping(raw, f"{where}.hours")
    rules = data.get("overflow", [])
    if not isinstance(rules, list):
        raise ValidationError(f"{where}.overflow", "must be an array of tables")
    queue = Queue(
        id=queue_id,
        display_name=_string(data.get("display_name", ""), f"{where}.display_name"),
        channels=_channels(data.get("channels", []), f"{where}.channels"),
        required=_skills(data.get("required", {}), f"{where}.required"),
        preferred=_skills(data.get("preferred", {}), f"{where}.preferred"),
        priority=_integer(data.get("priority", 0), f"{where}.priority"),
        service_level=ServiceLevelTarget(
            _number(sl.get("seconds", 20.0), f"{where}.service_level.seconds"),
            _number(sl.get("share", 0.8), f"{where}.service_level.share"),
        ),
        max_size=_integer(data.get("max_size", 0), f"{where}.max_size"),
        max_wait_seconds=_number(data.get("max_wait_seconds", 0.0), f"{where}.max_wait_seconds"),
        hours=hours,
        overflow=tuple(rule_from_mapping(r, f"{where}.overflow[{k}]") for k, r in enumerate(rules)),
        callback_attempts=_integer(data.get("callback_attempts", 0), f"{where}.callback_attempts"),
        callback_retry_seconds=_number(
            data.get("callback_retry_seconds", 0.0), f"{where}.callback_retry_seconds"
        ),
    )
    check_queue(queue, where)
    return queue


def _span(interval: Interval) -> str:
    start, end = interval
    return f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"


def hours_to_mapping(hours: Hours) -> dict[str, Any]:
    out: dict[str, Any] = {"time_zone": hours.time_zone}
    for day in DAYS:
        if day in hours.weekly:
            out[day] = [_span(i) for i in hours.weekly[day]]
    if hours.exceptions:
        out["exceptions"] = {
            d.isoformat(): [_span(i) for i in spans]
            for d, spans in sorted(hours.exceptions.items())
        }
    return out


def _skills_out(reqs: tuple[SkillRequirement, ...]) -> dict[str, int]:
    return {r.skill: r.min_level for r in reqs}


def rule_to_mapping(rule: OverflowRule) -> dict[str, Any]:
    out: dict[str, Any] = {"name": rule.name, "when": rule.when.value, "then": rule.then.value}
    if rule.threshold:
        out["threshold"] = rule.threshold
    if rule.queue:
        out["queue"] = rule.queue
    if not rule.keep_place:
        out["to_back"] = True
    if rule.skills:
        out["skills"] = _skills_out(rule.skills)
    if rule.priority:
        out["priority"] = rule.priority
    if rule.disposition:
        out["disposition"] = rule.disposition
    return out


def queue_to_mapping(queue: Queue) -> dict[str, Any]:
    """The table `queue_from_mapping` reads back to an equal queue."""
    out: dict[str, Any] = {
        "display_name": queue.display_name,
        "channels": [c.name.lower() for c in CHANNELS if c in queue.channels],
        "required": _skills_out(queue.required),
        "preferred": _skills_out(queue.preferred),
        "priority": queue.priority,
        "service_level": {
            "seconds": queue.service_level.seconds,
            "share": queue.service_level.share,
        },
        "max_size": queue.max_size,
        "max_wait_seconds": queue.max_wait_seconds,
        "overflow": [rule_to_mapping(r) for r in queue.overflow],
    }
    if queue.callback_attempts:
        out["callback_attempts"] = queue.callback_attempts
    if queue.callback_retry_seconds:
        out["callback_retry_seconds"] = queue.callback_retry_seconds
    if not queue.hours.always:
        out["hours"] = hours_to_mapping(queue.hours)
    return out
