"""Hours of operation in a time zone: open or closed at an instant, holidays and special
openings, the next change (across a daylight-saving shift), and bad schedules refused."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from cim_router.domain.errors import ValidationError
from cim_router.domain.hours import Hours, hours_from_mapping

PARIS = ZoneInfo("Europe/Paris")
WEEKDAYS = {day: ["09:00-12:30", "13:30-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")}


def at(year: int, month: int, day: int, hour: int, minute: int = 0) -> float:
    return dt.datetime(year, month, day, hour, minute, tzinfo=PARIS).timestamp()


def hours(**extra: object) -> Hours:
    return hours_from_mapping({"time_zone": "Europe/Paris", **WEEKDAYS, **extra}, "hours")


def test_open_in_its_intervals_on_its_days_and_closed_otherwise() -> None:
    h = hours()
    assert h.is_open(at(2026, 12, 1, 9))  # a Tuesday, at opening
    assert h.is_open(at(2026, 12, 1, 12, 29))
    assert not h.is_open(at(2026, 12, 1, 12, 30))  # lunch
    assert not h.is_open(at(2026, 12, 1, 18))  # closing is exclusive
    assert not h.is_open(at(2026, 12, 5, 10))  # Saturday
    assert not h.is_open(at(2026, 12, 1, 8, 59))


def test_a_holiday_closes_and_a_special_opening_opens() -> None:
    h = hours(exceptions={"2026-12-25": [], "2026-12-27": ["10:00-14:00"]})
    assert not h.is_open(at(2026, 12, 25, 10))  # a Friday, closed for Christmas
    assert h.is_open(at(2026, 12, 27, 11))  # a Sunday, opened specially
    assert not h.is_open(at(2026, 12, 27, 15))


def test_the_next_change_is_the_next_open_or_close() -> None:
    h = hours(exceptions={"2026-12-25": []})
    assert h.next_change(at(2026, 12, 1, 10)) == at(2026, 12, 1, 12, 30)
    assert h.next_change(at(2026, 12, 1, 12, 30)) == at(2026, 12, 1, 13, 30)
    assert h.next_change(at(2026, 12, 4, 18)) == at(2026, 12, 7, 9)  # Friday -> Monday
    assert h.next_change(at(2026, 12, 24, 18)) == at(2026, 12, 28, 9)  # past the holiday


def test_the_schedule_follows_local_time_across_a_daylight_saving_shift() -> None:
    h = hours()
    # Clocks go forward on Sunday 2027-03-28 in Paris: Monday opens at 09:00 local, UTC+2.
    monday_nine = dt.datetime(2027, 3, 29, 7, 0, tzinfo=dt.timezone.utc).timestamp()
    assert h.next_change(at(2027, 3, 26, 18)) == monday_nine
    assert h.is_open(monday_nine) and not h.is_open(monday_nine - 60)


def test_always_open_never_changes() -> None:
    h = Hours.always_open()
    assert h.is_open(0.0) and h.next_change(0.0) is None


def test_local_midnight() -> None:
    assert hours().local_midnight(at(2026, 12, 1, 15, 45)) == at(2026, 12, 1, 0)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "hours.time_zone"),
        ({"mon": ["09:00-12:00", "11:00-13:00"]}, "hours.mon"),
        ({"mon": ["17:00-09:00"]}, "hours.mon[0]"),
        ({"mon": ["9-17"]}, "hours.mon[0]"),
        ({"mon": ["09:00-24:30"]}, "hours.mon[0]"),
        ({"monday": ["09:00-17:00"]}, "hours.monday"),
        ({"exceptions": {"2026-13-01": []}}, "hours.exceptions.2026-13-01"),
        ({"exceptions": {"2026-12-24": ["14:00-12:00"]}}, "hours.exceptions.2026-12-24[0]"),
    ],
)
def test_bad_schedules_are_refused_naming_the_key(data: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        hours_from_mapping(data, "hours")
    assert refused.value.field == field
