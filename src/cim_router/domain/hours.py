"""Hours of operation: a time zone, a weekly schedule and dated exceptions (holidays,
special openings); open or closed at an instant, and when that next changes."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cim_router.domain.errors import ValidationError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_MINUTES = 24 * 60
_TIME = re.compile(r"^(\d\d):(\d\d)$")
SEARCH_DAYS = 400  # how far ahead `next_change` looks (a year of exceptions, and then some)

Interval = tuple[int, int]  # minutes since local midnight, [start, end)


def parse_time(text: str, field_: str) -> int:
    """'HH:MM' (00:00 .. 24:00) as minutes since midnight."""
    m = _TIME.match(text)
    if not m:
        raise ValidationError(field_, f"times are HH:MM, got {text!r}")
    hours, minutes = int(m.group(1)), int(m.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValidationError(field_, f"not a time of day: {text!r}")
    return hours * 60 + minutes


def parse_intervals(spans: Sequence[str], field_: str) -> tuple[Interval, ...]:
    """['09:00-17:00', ...] as sorted intervals; inverted or overlapping ones are refused."""
    out: list[Interval] = []
    for k, span in enumerate(spans):
        where = f"{field_}[{k}]"
        if not isinstance(span, str) or span.count("-") != 1:
            raise ValidationError(where, f"intervals are 'HH:MM-HH:MM', got {span!r}")
        start_text, end_text = span.split("-")
        start, end = parse_time(start_text.strip(), where), parse_time(end_text.strip(), where)
        if end <= start:
            raise ValidationError(where, f"ends before it starts: {span!r}")
        out.append((start, end))
    out.sort()
    for (_, end), (start, _) in itertools.pairwise(out):
        if start < end:
            raise ValidationError(field_, "intervals overlap")
    return tuple(out)


def check_time_zone(name: str, field_: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            field_, f"unknown time zone {name!r} (IANA names, e.g. Europe/Paris)"
        ) from None


@dataclass(frozen=True)
class Hours:
    """When a queue is open. No weekly entry for a day means closed that day; an
    exception's empty list closes that date."""

    time_zone: str = "UTC"
    weekly: Mapping[str, tuple[Interval, ...]] = field(default_factory=dict)
    exceptions: Mapping[dt.date, tuple[Interval, ...]] = field(default_factory=dict)
    always: bool = False  # no schedule given: open at every instant

    @classmethod
    def always_open(cls) -> Hours:
        return cls(always=True)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def _day(self, day: dt.date) -> tuple[Interval, ...]:
        found = self.exceptions.get(day)
        if found is not None:
            return found
        return self.weekly.get(DAYS[day.weekday()], ())

    def is_open(self, at: float) -> bool:
        if self.always:
            return True
        local = dt.datetime.fromtimestamp(at, self.zone)
        minute = local.hour * 60 + local.minute + local.second / 60.0
        return any(start <= minute < end for start, end in self._day(local.date()))

    def next_change(self, at: float) -> float | None:
        """The first instant after `at` at which `is_open` gives another answer; None if it
        never does within SEARCH_DAYS."""
        if self.always:
            return None
        now_open = self.is_open(at)
        zone = self.zone
        day = dt.datetime.fromtimestamp(at, zone).date()
        for _ in range(SEARCH_DAYS):
            for boundary in self._boundaries(day, zone):
                if boundary > at and self.is_open(boundary) != now_open:
                    return boundary
            day += dt.timedelta(days=1)
        return None

    def _boundaries(self, day: dt.date, zone: ZoneInfo) -> list[float]:
        """Every instant of `day` where an interval starts or ends (and midnight)."""
        minutes = {0, *(m for span in self._day(day) for m in span)}
        out = []
        for m in sorted(minutes):
            when = dt.datetime.combine(day, dt.time(), zone) + dt.timedelta(minutes=m)
            out.append(when.timestamp())
        return out

    def local_midnight(self, at: float) -> float:
        """The start of `at`'s day in the time zone ("since midnight" statistics)."""
        zone = self.zone
        local = dt.datetime.fromtimestamp(at, zone)
        return dt.datetime.combine(local.date(), dt.time(), zone).timestamp()


def hours_from_mapping(data: Mapping[str, object], field_: str) -> Hours:
    """`{time_zone = "...", mon = ["09:00-17:00"], ..., exceptions = {"2026-12-25" = []}}`."""
    known = {"time_zone", "exceptions", *DAYS}
    for key in data:
        if key not in known:
            raise ValidationError(f"{field_}.{key}", "unknown key")
    zone_name = data.get("time_zone", "UTC")
    if not isinstance(zone_name, str):
        raise ValidationError(f"{field_}.time_zone", "must be a string")
    check_time_zone(zone_name, f"{field_}.time_zone")
    weekly: dict[str, tuple[Interval, ...]] = {}
    for name in DAYS:
        spans = data.get(name)
        if spans is None:
            continue
        if not isinstance(spans, list):
            raise ValidationError(f"{field_}.{name}", "must be a list of 'HH:MM-HH:MM'")
        weekly[name] = parse_intervals(spans, f"{field_}.{name}")
    exceptions: dict[dt.date, tuple[Interval, ...]] = {}
    raw = data.get("exceptions", {})
    if not isinstance(raw, Mapping):
        raise ValidationError(f"{field_}.exceptions", "must be a table of date -> intervals")
    for date_key, spans in raw.items():
        where = f"{field_}.exceptions.{date_key}"
        try:
            day = dt.date.fromisoformat(str(date_key))
        except ValueError:
            raise ValidationError(where, "dates are YYYY-MM-DD") from None
        if not isinstance(spans, list):
            raise ValidationError(where, "must be a list of 'HH:MM-HH:MM' ([] closes the day)")
        exceptions[day] = parse_intervals(spans, where)
    return Hours(zone_name, weekly, exceptions)
