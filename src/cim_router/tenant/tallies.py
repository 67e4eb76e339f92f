"""The tallies behind the measures: what happened to each queue's interactions, per
channel, in one-minute buckets.

A bucket is the minute since the epoch (`int(at // 60)`); in it each (queue, channel)
pair has a `Tally`. The store keeps the same counts, one hash per bucket, under field names
"queue|channel|name" (`field_name`), written with the transition that counted them; a
load reads back the buckets of the last two days. Windows are sums of buckets.
"""

from __future__ import annotations

from dataclasses import fields

from cim_router.domain.channel import Channel
from cim_router.tenant.measures import Tally

BUCKET_SECONDS = 60
KEEP_BUCKETS = 2 * 24 * 60  # two days kept, in memory and in the store
LOAD_BUCKETS = 26 * 60  # what a load reads back: "today" in any time zone, DST included
FLOAT_COUNTS = frozenset(f.name for f in fields(Tally) if f.type in (float, "float"))
COUNTS = frozenset(f.name for f in fields(Tally))
_CHANNELS = {c.name.lower(): c for c in Channel}

Pair = tuple[str, Channel]  # (queue id, channel)


def bucket_of(at: float) -> int:
    return int(at // BUCKET_SECONDS)


def field_name(queue: str, channel: Channel, name: str) -> str:
    """The stored name of one count: "queue|channel|name" (the queue id may hold '|')."""
    return f"{queue}|{channel.name.lower()}|{name}"


def parse_field(raw: str) -> tuple[str, Channel, str] | None:
    """(queue, channel, count name) of a stored field name; None if it is not one."""
    parts = raw.rsplit("|", 2)
    if len(parts) != 3:
        return None
    queue, channel, name = parts
    found = _CHANNELS.get(channel)
    if found is None or name not in COUNTS:
        return None
    return queue, found, name


class Tallies:
    """One tenant's tallies in memory, by bucket; the sums of long windows are kept as
    they grow, so "since midnight" costs a bucket's worth of work, not a day's."""

    def __init__(self) -> None:
        self.buckets: dict[int, dict[Pair, Tally]] = {}
        self.pairs: set[Pair] = set()  # every pair counted in a bucket kept (or since pruned)
        self.newest = 0
        # first bucket -> (last bucket summed, the sums): closed buckets only.
        self._sums: dict[int, tuple[int, dict[Pair, Tally]]] = {}
        self._summed_upto = -1  # the latest bucket in any of `_sums`

    def clear(self) -> None:
        self.buckets.clear()
        self.pairs.clear()
        self.newest = 0
        self._forget_sums()

    def _forget_sums(self) -> None:
        self._sums.clear()
        self._summed_upto = -1

    def add(self, bucket: int, pair: Pair, name: str, n: float) -> None:
        pairs = self.buckets.get(bucket)
        if pairs is None:
            pairs = self.buckets[bucket] = {}
            if bucket > self.newest:
                self.newest = bucket
                self._prune(bucket)
        t = pairs.get(pair)
        if t is None:
            t = pairs[pair] = Tally()
            self.pairs.add(pair)
        setattr(t, name, getattr(t, name) + n)
        if bucket <= self._summed_upto:
            self._forget_sums()  # a clock that went back: a bucket summed has changed

    def load(self, stored: dict[int, dict[str, float]]) -> None:
        """Take the store's buckets (field name -> value); unknown fields are ignored."""
        self.clear()
        for bucket, values in stored.items():
            for raw, value in values.items():
                parsed = parse_field(raw)
                if parsed is None:
                    continue
                queue, channel, name = parsed
                n = float(value) if name in FLOAT_COUNTS else int(value)
                self.add(bucket, (queue, channel), name, n)
        self._forget_sums()

    def total(self, first: int, last: int) -> dict[Pair, Tally]:
        """Each pair's tally summed over buckets `first`..`last` (both included)."""
        out: dict[Pair, Tally] = {}
        if last - first > 2 * 60:
            upto, sums = self._closed_sums(first, last - 1)
            for pair, t in sums.items():
                out[pair] = Tally().add(t)
            first = upto + 1
        for bucket in range(first, last + 1):
            for pair, t in self.buckets.get(bucket, {}).items():
                found = out.get(pair)
                if found is None:
                    found = out[pair] = Tally()
                found.add(t)
        return out

    def _closed_sums(self, first: int, upto: int) -> tuple[int, dict[Pair, Tally]]:
        done, sums = self._sums.get(first, (first - 1, {}))
        if done > upto:
            done, sums = first - 1, {}
        for bucket in range(done + 1, upto + 1):
            for pair, t in self.buckets.get(bucket, {}).items():
                found = sums.get(pair)
                if found is None:
                    found = sums[pair] = Tally()
                found.add(t)
        if len(self._sums) > 8:
            self._forget_sums()
        self._sums[first] = (upto, sums)
        self._summed_upto = max(self._summed_upto, upto)
        return upto, sums

    def _prune(self, newest: int) -> None:
        """Buckets older than KEEP_BUCKETS go once there are more than that many: memory
        stays bounded and a load (which adds buckets oldest first) never scans them all."""
        if len(self.buckets) <= KEEP_BUCKETS:
            return
        horizon = newest - KEEP_BUCKETS
        for bucket in [b for b in self.buckets if b < horizon]:
            del self.buckets[bucket]
        self._forget_sums()
