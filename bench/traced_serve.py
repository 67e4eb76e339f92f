"""`cim-router serve` for finding what grows in a soak: `python -m bench.traced_serve serve
...`. With `CIM_BENCH_TRACEMALLOC_DIR` set it runs under tracemalloc and every SIGUSR1
writes a snapshot there (snapshot-1.pickle, snapshot-2.pickle, ...; `growth` compares two
of them). With `CIM_BENCH_SERVE_CAPS=N` the tenant's bounded in-memory caches (closed
interactions, request-id outcomes, customers written) hold N entries at most instead of
their defaults, so that a soak of minutes reaches the caps that take the defaults a
quarter of an hour at 100/s."""

from __future__ import annotations

import itertools
import os
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType

FRAMES = 8
DIR_VARIABLE = "CIM_BENCH_TRACEMALLOC_DIR"
CAPS_VARIABLE = "CIM_BENCH_SERVE_CAPS"


def snapshot_path(directory: Path, n: int) -> Path:
    return directory / f"snapshot-{n}.pickle"


def _dump_on_sigusr1(directory: Path) -> None:
    counter = itertools.count(1)

    def dump(signum: int, frame: FrameType | None) -> None:
        tracemalloc.take_snapshot().dump(str(snapshot_path(directory, next(counter))))

    signal.signal(signal.SIGUSR1, dump)


def growth(before: Path, after: Path, top: int = 12) -> list[str]:
    """The allocation sites that grew most from `before` to `after`: a line each, with the
    innermost frames of the router's own code."""
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    old = tracemalloc.Snapshot.load(str(before)).filter_traces(ignore)
    new = tracemalloc.Snapshot.load(str(after)).filter_traces(ignore)
    total = sum(t.size for t in new.traces) - sum(t.size for t in old.traces)
    lines = [f"traced memory {total / 2**20:+.2f} MiB between the snapshots"]
    for stat in new.compare_to(old, "traceback")[:top]:
        # Oldest frame first: the last of the router's frames is where it allocated.
        frames = [f for f in stat.traceback if "cim_router" in f.filename][-3:][::-1]
        where = " < ".join(
            f"{f.filename.rpartition('cim_router/')[2]}:{f.lineno}" for f in frames
        ) or str(stat.traceback[0])
        lines.append(f"{stat.size_diff / 2**20:+8.2f} MiB {stat.count_diff:+9d} blocks  {where}")
    return lines


def _cap(n: int) -> None:
    from cim_router.tenant import requests, router

    router.RECENTLY_CLOSED = n
    router.RECENT_CUSTOMERS = n
    requests.MAX_REMEMBERED = n


if __name__ == "__main__":
    from cim_router.cli import main

    if os.environ.get(CAPS_VARIABLE):
        _cap(int(os.environ[CAPS_VARIABLE]))
    if os.environ.get(DIR_VARIABLE):
        tracemalloc.start(FRAMES)
        _dump_on_sigusr1(Path(os.environ[DIR_VARIABLE]))
    sys.exit(main())
