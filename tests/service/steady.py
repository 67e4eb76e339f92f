"""A GetStats answer without what moves with the clock alone, for before/after checks."""

from __future__ import annotations

from cim_router._pb import router_pb2 as pb


def steady(stats: pb.Stats) -> pb.Stats:
    """`stats` without its time, the waits and each measures row's start (the 15-minute
    window moves on every minute); what a change would change is all left."""
    stats.ClearField("at")
    stats.ClearField("longest_wait_seconds")
    for m in stats.measures:
        m.ClearField("longest_wait_seconds")
        m.ClearField("since")
    return stats
