"""A GetStats answer without what moves with the clock alone, for before/after checks;
and the measures rows of two answers compared when a window may have moved on between
them."""

from __future__ import annotations

from cim_router._pb import router_pb2 as pb

RowKey = tuple[str, int, str]  # (queue id, channel, window) of a measures row
# What a row counts over its window: once the window has moved on with nothing done in
# between, each is at most what it was (counts leave the window, none come in).
WINDOW_COUNTS = (
    *("offered", "answered", "answered_in_sla", "abandoned", "short_abandoned", "handled"),
    *("transferred", "overflowed", "csat_count", "holds", "hold_seconds", "outbound"),
    *("callbacks", "callback_attempts"),
)
# What a row says of now, whatever the window.
NOW_FIELDS = ("waiting", "occupancy")


def steady(stats: pb.Stats) -> pb.Stats:
    """`stats` without its time, the waits and each measures row's start (the 15-minute
    window moves on every minute); what a change would change is all left."""
    stats.ClearField("at")
    stats.ClearField("longest_wait_seconds")
    for m in stats.measures:
        m.ClearField("longest_wait_seconds")
        m.ClearField("since")
    return stats


def row_key(m: pb.Measures) -> RowKey:
    return (m.queue_id, m.channel, m.window)


def window_starts(stats: pb.Stats) -> dict[RowKey, int]:
    """Each measures row's start (Measures.since, in seconds): read it before `steady`."""
    return {row_key(m): m.since.seconds for m in stats.measures}


def moved_windows(before: dict[RowKey, int], after: dict[RowKey, int]) -> set[str]:
    """The windows whose start moved between two answers (the 15-minute one every minute,
    "today" at a queue's midnight), from the rows both have."""
    return {k[2] for k in before.keys() & after.keys() if before[k] != after[k]}


def measures_differ(before: pb.Stats, after: pb.Stats, moved: set[str]) -> str | None:
    """Why `after`'s measures rows (both answers steady) cannot follow from `before`'s with
    nothing done in between, or None. A window that did not move reads back exactly; one
    that moved on keeps what it says of now, no row's counts grow, and a row may go only
    once nothing in it waits."""
    rows_before = {row_key(m): m for m in before.measures}
    rows_after = {row_key(m): m for m in after.measures}
    for key in sorted(rows_before.keys() | rows_after.keys()):
        was, now = rows_before.get(key), rows_after.get(key)
        if key[2] not in moved:
            if was is None or now is None or _bytes(was) != _bytes(now):
                return f"row {key}: {was} -> {now} (its window did not move)"
            continue
        if now is None:
            assert was is not None
            if was.waiting:
                return f"row {key} is gone with {was.waiting} waiting"
            continue
        if was is None:
            return f"row {key} is new: {now}"
        for name in NOW_FIELDS:
            if _value(was, name) != _value(now, name):
                return f"row {key}: {name} {_value(was, name)} -> {_value(now, name)}"
        for name in WINDOW_COUNTS:
            if getattr(now, name) > getattr(was, name):
                return f"row {key}: {name} grew, {getattr(was, name)} -> {getattr(now, name)}"
    return None


def _value(m: pb.Measures, name: str) -> object:
    """A field's value, None for an optional one that is absent."""
    if name == "occupancy" and not m.HasField("occupancy"):
        return None
    return getattr(m, name)


def _bytes(m: pb.Measures) -> bytes:
    return m.SerializeToString(deterministic=True)
