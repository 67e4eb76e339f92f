"""The measures over their two windows, for the tenant, each queue, each channel and each
queue and channel: what GetStats answers and the metrics report, computed here once.

"15m" is the last 15 one-minute buckets (the current minute included); "today" runs from
midnight in the queue's time zone (`TenantRouter.queue_clock`). A row for several queues
sums each queue's own window and starts at the earliest of them. `waiting`, the longest
wait and occupancy are now, whatever the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cim_router.domain.agent import AgentState
from cim_router.domain.channel import Channel
from cim_router.tenant.live import WAITING_STATES
from cim_router.tenant.measures import Tally, occupancy
from cim_router.tenant.router import TenantRouter
from cim_router.tenant.tallies import BUCKET_SECONDS, Pair, bucket_of

RECENT = "15m"
TODAY = "today"
WINDOWS = (RECENT, TODAY)
RECENT_BUCKETS = 15


@dataclass(frozen=True)
class MeasureRow:
    """One row of measures: `queue_id` "" for every queue, `channel` None for every one."""

    queue_id: str
    channel: Channel | None
    window: str
    since: float
    tally: Tally
    waiting: int = 0
    longest_wait: float = 0.0
    occupancy: float | None = None


def midnight(at: float, r: TenantRouter, queue_id: str, channel: Channel) -> float:
    """The last local midnight at or before `at` in the queue's time zone."""
    zone = r.queue_clock(queue_id, channel).zone
    local = datetime.fromtimestamp(at, zone)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return start.timestamp()


def _window_tallies(r: TenantRouter, now: float, window: str) -> dict[Pair, tuple[float, Tally]]:
    """(since, tally) of every pair with counts in the window."""
    last = bucket_of(now)
    if window == RECENT:
        first = last - RECENT_BUCKETS + 1
        since = float(first * BUCKET_SECONDS)
        return {p: (since, t) for p, t in r.tallies.total(first, last).items()}
    # Each queue's own midnight; the sums of one first bucket are shared by its pairs.
    starts: dict[int, list[Pair]] = {}
    out: dict[Pair, tuple[float, Tally]] = {}
    for pair in r.tallies.pairs:
        first = bucket_of(midnight(now, r, *pair))
        starts.setdefault(first, []).append(pair)
    for first, wanted in starts.items():
        summed = r.tallies.total(first, last)
        for pair in wanted:
            if pair in summed:
                out[pair] = (float(first * BUCKET_SECONDS), summed[pair])
    return out


def _now(r: TenantRouter, now: float) -> dict[Pair, tuple[int, float]]:
    """(waiting, longest wait) of every pair with something waiting now."""
    out: dict[Pair, tuple[int, float]] = {}
    for rec in r.open.values():
        i = rec.interaction
        if i.state not in WAITING_STATES or rec.not_before:  # held work does not wait yet
            continue
        n, longest = out.get((i.queue_id, i.channel), (0, 0.0))
        out[i.queue_id, i.channel] = (n + 1, max(longest, now - i.enqueued_at))
    return out


def _occupancies(r: TenantRouter) -> tuple[dict[Channel, float | None], float | None]:
    """Seats in use over seats of logged-in agents, per channel and over all of them;
    every agent serves every queue."""
    busy: dict[Channel, int] = {}
    staffed: dict[Channel, int] = {}
    for arec in r.agents.values():
        agent = arec.agent
        if agent.state == AgentState.OFFLINE:
            continue
        for channel, n in agent.capacity.items():
            staffed[channel] = staffed.get(channel, 0) + n
        for channel, n in agent.load.items():
            busy[channel] = busy.get(channel, 0) + n
    per_channel = {c: occupancy(busy.get(c, 0), staffed.get(c, 0)) for c in Channel}
    return per_channel, occupancy(sum(busy.values()), sum(staffed.values()))


def measure_rows(r: TenantRouter, now: float, queue_id: str | None = None) -> list[MeasureRow]:
    """Rows for both windows: the tenant, each queue, each channel, each pair present
    (counted in the window or waiting now); with `queue_id`, only that queue's rows (the
    queue and its channels)."""
    waiting = _now(r, now)
    occupancies, overall = _occupancies(r)
    rows: list[MeasureRow] = []
    for window in WINDOWS:
        counted = _window_tallies(r, now, window)
        pairs = sorted(set(counted) | set(waiting))
        if queue_id is not None:
            pairs = [p for p in pairs if p[0] == queue_id]
        default_since = float(
            (bucket_of(now) - RECENT_BUCKETS + 1) * BUCKET_SECONDS
            if window == RECENT
            else midnight(now, r, queue_id or "", Channel.VOICE)
        )
        groups: dict[tuple[str, Channel | None], list[Pair]] = {}
        if queue_id is None:
            groups[("", None)] = pairs
            for ch in sorted({p[1] for p in pairs}):
                groups[("", ch)] = [p for p in pairs if p[1] == ch]
        for q in sorted({p[0] for p in pairs} | ({queue_id} if queue_id else set())):
            groups[(q, None)] = [p for p in pairs if p[0] == q]
        for p in pairs:
            groups[p] = [p]
        for (q, c), members in groups.items():
            total = Tally()
            since = [counted[p][0] for p in members if p in counted]
            n, longest = 0, 0.0
            for p in members:
                if p in counted:
                    total.add(counted[p][1])
                found = waiting.get(p)
                if found is not None:
                    n += found[0]
                    longest = max(longest, found[1])
            occ = overall if c is None else occupancies[c]
            start = min(since) if since else default_since
            rows.append(MeasureRow(q, c, window, start, total, n, longest, occ))
    return rows
