"""Queues between the wire and the domain, both ways: a `Queue` message checked into a
`Queue` (every error naming the request's field, e.g. `queue.hours.mon[0]`), and queues,
their status and profiles back out."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from cim_router._pb import router_pb2 as pb
from cim_router.domain.channel import Channel
from cim_router.domain.errors import ValidationError
from cim_router.domain.hours import DAYS, Hours, hours_from_mapping
from cim_router.domain.limits import (
    MAX_DISPOSITION_LENGTH,
    MAX_HOURS_EXCEPTIONS,
    MAX_HOURS_INTERVALS,
    MAX_TIME_ZONE_LENGTH,
)
from cim_router.domain.queues import (
    MAX_RULES,
    OverflowRule,
    Queue,
    ServiceLevelTarget,
    Then,
    When,
    check_queue,
)
from cim_router.service.convert import channel_in, require_id, requirements_in, text_in
from cim_router.service.responses import channel_out, requirements_out, timestamp
from cim_router.tenant.errors import InvalidArgument
from cim_router.tenant.queues import QueueStatus

_WHEN = {
    pb.OVERFLOW_CONDITION_WAITED: When.WAITED,
    pb.OVERFLOW_CONDITION_CLOSED: When.CLOSED,
    pb.OVERFLOW_CONDITION_SIZE: When.SIZE,
    pb.OVERFLOW_CONDITION_NO_AGENTS: When.NO_AGENTS,
    pb.OVERFLOW_CONDITION_EXPECTED_WAIT: When.EXPECTED_WAIT,
}
_THEN = {
    pb.OVERFLOW_ACTION_MOVE: Then.MOVE,
    pb.OVERFLOW_ACTION_ADD_SKILLS: Then.ADD_SKILLS,
    pb.OVERFLOW_ACTION_DROP_SKILLS: Then.DROP_SKILLS,
    pb.OVERFLOW_ACTION_RAISE_PRIORITY: Then.RAISE_PRIORITY,
    pb.OVERFLOW_ACTION_END: Then.END,
}
_WHEN_OUT = {v: k for k, v in _WHEN.items()}
_THEN_OUT = {v: k for k, v in _THEN.items()}

# Domain names of a queue's fields -> the request's.
_RENAMES = (
    (re.compile(r"\.required(?=$|[.\[])"), ".required_skills"),
    (re.compile(r"\.preferred(?=$|[.\[])"), ".preferred_skills"),
    (re.compile(r"(\.overflow\[\d+\])\.queue$"), r"\1.queue_id"),
)


def wire_field(field: str) -> str:
    for pattern, repl in _RENAMES:
        field = pattern.sub(repl, field)
    return field


def as_invalid(exc: ValidationError) -> InvalidArgument:
    return InvalidArgument(wire_field(exc.field), exc.reason)


# --- in -------------------------------------------------------------------------------------


def _intervals(spans: Sequence[str], where: str) -> list[str]:
    if len(spans) > MAX_HOURS_INTERVALS:
        raise InvalidArgument(where, f"at most {MAX_HOURS_INTERVALS} intervals")
    return list(spans)


def hours_in(h: pb.Hours, where: str = "queue.hours") -> Hours:
    """No hours at all (or an empty message): always open."""
    if not h.time_zone and not h.weekly and not h.exceptions:
        return Hours.always_open()
    if len(h.time_zone) > MAX_TIME_ZONE_LENGTH or not h.time_zone.isprintable():
        raise InvalidArgument(f"{where}.time_zone", "not an IANA time zone name")
    table: dict[str, Any] = {"time_zone": h.time_zone or "UTC"}
    for k, weekday in enumerate(h.weekly):
        name = weekday.day
        if name not in DAYS:
            raise InvalidArgument(f"{where}.weekly[{k}].day", "must be one of mon .. sun")
        if name in table:
            raise InvalidArgument(f"{where}.weekly[{k}].day", f"{name} is listed twice")
        table[name] = _intervals(weekday.intervals, f"{where}.weekly[{k}].intervals")
    if len(h.exceptions) > MAX_HOURS_EXCEPTIONS:
        raise InvalidArgument(f"{where}.exceptions", f"at most {MAX_HOURS_EXCEPTIONS} dates")
    exceptions: dict[str, list[str]] = {}
    for k, date in enumerate(h.exceptions):
        try:
            known = len(date.date) == 10 and bool(dt.date.fromisoformat(date.date))
        except ValueError:
            known = False
        if not known:
            raise InvalidArgument(f"{where}.exceptions[{k}].date", "dates are YYYY-MM-DD")
        if date.date in exceptions:
            raise InvalidArgument(f"{where}.exceptions[{k}].date", "listed twice")
        exceptions[date.date] = _intervals(date.intervals, f"{where}.exceptions[{k}].intervals")
    table["exceptions"] = exceptions
    try:
        return hours_from_mapping(table, where)
    except ValidationError as exc:
        raise InvalidArgument(_hours_field(h, where, exc.field), exc.reason) from None


def _hours_field(h: pb.Hours, where: str, field: str) -> str:
    """The domain's `hours.mon[0]` and `hours.exceptions.2026-12-25[0]` as the request
    spells them: `hours.weekly[k].intervals[0]`, `hours.exceptions[k].intervals[0]`."""
    days = {d.day: k for k, d in enumerate(h.weekly)}
    dates = {d.date: k for k, d in enumerate(h.exceptions)}
    rest = field[len(where) :]
    m = re.match(r"\.exceptions\.(\d{4}-\d\d-\d\d)(.*)$", rest)
    if m and m.group(1) in dates:
        return f"{where}.exceptions[{dates[m.group(1)]}].intervals{m.group(2)}"
    m = re.match(r"\.([a-z]{3})(.*)$", rest)
    if m and m.group(1) in days:
        return f"{where}.weekly[{days[m.group(1)]}].intervals{m.group(2)}"
    return field


def _rule_in(rule: pb.OverflowRule, where: str) -> OverflowRule:
    when = _WHEN.get(rule.when)
    if when is None:
        raise InvalidArgument(f"{where}.when", "is required (a known condition)")
    then = _THEN.get(rule.then)
    if then is None:
        raise InvalidArgument(f"{where}.then", "is required (a known action)")
    if rule.queue_id:
        require_id(f"{where}.queue_id", rule.queue_id)
    return OverflowRule(
        name=rule.name,
        when=when,
        then=then,
        threshold=rule.threshold,
        queue=rule.queue_id,
        keep_place=not rule.to_back,
        skills=requirements_in(rule.skills, f"{where}.skills"),
        priority=rule.priority,
        disposition=text_in(f"{where}.disposition", rule.disposition, MAX_DISPOSITION_LENGTH),
    )


def queue_in(q: pb.Queue, where: str = "queue") -> Queue:
    require_id(f"{where}.id", q.id)
    text_in(f"{where}.display_name", q.display_name, 256)
    channels: set[Channel] = set()
    for k, value in enumerate(q.channels):
        channel = channel_in(value, f"{where}.channels[{k}]")
        assert channel is not None
        channels.add(channel)
    if len(q.overflow) > MAX_RULES:
        raise InvalidArgument(f"{where}.overflow", f"at most {MAX_RULES} rules")
    sl = q.service_level
    queue = Queue(
        id=q.id,
        display_name=q.display_name,
        channels=frozenset(channels),
        required=requirements_in(q.required_skills, f"{where}.required_skills"),
        preferred=requirements_in(q.preferred_skills, f"{where}.preferred_skills"),
        priority=q.priority,
        service_level=ServiceLevelTarget(sl.seconds or 20.0, sl.share or 0.8),
        max_size=q.max_size,
        max_wait_seconds=q.max_wait_seconds,
        hours=hours_in(q.hours, f"{where}.hours"),
        overflow=tuple(_rule_in(r, f"{where}.overflow[{k}]") for k, r in enumerate(q.overflow)),
        callback_attempts=q.callback_attempts,
        callback_retry_seconds=q.callback_retry_seconds,
    )
    try:
        check_queue(queue, where)
    except ValidationError as exc:
        raise as_invalid(exc) from None
    return queue


# --- out ------------------------------------------------------------------------------------


def _span(start: int, end: int) -> str:
    return f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"


def hours_out(h: Hours) -> pb.Hours | None:
    if h.always:
        return None
    return pb.Hours(
        time_zone=h.time_zone,
        weekly=[
            pb.DayHours(day=day, intervals=[_span(*i) for i in h.weekly[day]])
            for day in DAYS
            if day in h.weekly
        ],
        exceptions=[
            pb.DateHours(date=d.isoformat(), intervals=[_span(*i) for i in spans])
            for d, spans in sorted(h.exceptions.items())
        ],
    )


def _rule_out(r: OverflowRule) -> pb.OverflowRule:
    return pb.OverflowRule(
        name=r.name,
        when=_WHEN_OUT[r.when],
        threshold=r.threshold,
        then=_THEN_OUT[r.then],
        queue_id=r.queue,
        to_back=not r.keep_place,
        skills=requirements_out(r.skills),
        priority=r.priority,
        disposition=r.disposition,
    )


def queue_out(q: Queue) -> pb.Queue:
    return pb.Queue(
        id=q.id,
        display_name=q.display_name,
        channels=[channel_out(c) for c in sorted(q.channels)],
        required_skills=requirements_out(q.required),
        preferred_skills=requirements_out(q.preferred),
        priority=q.priority,
        service_level=pb.ServiceLevelTarget(
            seconds=q.service_level.seconds, share=q.service_level.share
        ),
        max_size=q.max_size,
        max_wait_seconds=q.max_wait_seconds,
        hours=hours_out(q.hours),
        overflow=[_rule_out(r) for r in q.overflow],
        callback_attempts=q.callback_attempts,
        callback_retry_seconds=q.callback_retry_seconds,
    )


def status_out(s: QueueStatus) -> pb.QueueStatus:
    return pb.QueueStatus(
        queue=queue_out(s.queue),
        open=s.open,
        next_change=None if s.next_change is None else timestamp(s.next_change),
        waiting=s.waiting,
        longest_wait_seconds=s.longest_wait_seconds,
        agents_staffed=s.agents_staffed,
        agents_available=s.agents_available,
        estimated_wait_seconds=s.estimated_wait_seconds,
    )
