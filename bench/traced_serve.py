"""`cim-router serve` for finding what grows in a soak: `python -m bench.traced_serve serve
...`. With `CIM_BENCH_TRACEMALLOC_DIR` set it runs under tracemalloc and every SIGUSR1
writes a snapshot there (snapshot-1.pickle, snapshot-2.pickle, ...; `growth` compares two
of them). With `CIM_BENCH_SERVE_CAPS=N` the tenant's bounded in-memory caches (closed
interactions, request-id outcomes, customers written) hold N entries at most instead of
their defaults, so that a soak of minutes reaches the caps that take the defaults a
quarter of an hour at 100/s. With `CIM_BENCH_COUNTS_DIR` set every SIGUSR2 writes counts-1.json,
counts-2.json, ... there: the live objects by type (`gc.get_objects()`), pymalloc's
allocated blocks and glibc's heap in use and free (`mallinfo2`), without tracemalloc's
cost, so the router keeps up at the full rate; `count_growth` compares two. With
`CIM_BENCH_SERVE_DEFAULT_GC=1` the router freezes its start-up heap as `serve` does but keeps
Python's default collector thresholds instead of its own."""

from __future__ import annotations

import ctypes
import gc
import itertools
import json
import os
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType
from typing import Any

FRAMES = 8
DIR_VARIABLE = "CIM_BENCH_TRACEMALLOC_DIR"
COUNTS_VARIABLE = "CIM_BENCH_COUNTS_DIR"
GC_VARIABLE = "CIM_BENCH_SERVE_DEFAULT_GC"
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


def counts_path(directory: Path, n: int) -> Path:
    return directory / f"counts-{n}.json"


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def heap() -> dict[str, int]:
    """glibc's heap: bytes in use (`uordblks` + mmapped `hblkhd`) and free in its arenas
    (`fordblks`); {} where there is no mallinfo2 (not glibc, or older than 2.33)."""
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return {}
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return {
        "in_use": info.uordblks + info.hblkhd,
        "free": info.fordblks,
        "arena": info.arena,
    }


def counts() -> dict[str, Any]:
    """What the process holds now, without a collection first (one would change what is
    measured): cyclic garbage not yet collected is counted with the live objects, and the
    collector's own figures (collections and objects collected per generation) say how
    much of it there was."""
    blocks, memory = sys.getallocatedblocks(), heap()
    by_type: dict[str, int] = {}
    for o in gc.get_objects():
        name = type(o).__qualname__
        by_type[name] = by_type.get(name, 0) + 1
    return {"objects": by_type, "blocks": blocks, "heap": memory, "gc": gc.get_stats()}


def _count_on_sigusr2(directory: Path) -> None:
    counter = itertools.count(1)

    def dump(signum: int, frame: FrameType | None) -> None:
        counts_path(directory, next(counter)).write_text(json.dumps(counts()))

    signal.signal(signal.SIGUSR2, dump)


def count_growth(before: Path, after: Path, top: int = 12) -> list[str]:
    """What grew from `before` to `after`: pymalloc blocks, glibc's heap, and the types of
    live (gc-tracked) objects whose number changed most."""
    old, new = json.loads(before.read_text()), json.loads(after.read_text())
    lines = [f"pymalloc blocks {new['blocks'] - old['blocks']:+d} ({new['blocks']} live)"]
    if new["heap"] and old["heap"]:
        lines.append(
            ", ".join(
                f"heap {k} {(new['heap'][k] - old['heap'][k]) / 2**20:+.2f} MiB"
                f" ({new['heap'][k] / 2**20:.1f})"
                for k in ("in_use", "free", "arena")
            )
        )
    a, b = old["objects"], new["objects"]
    lines.append(f"gc-tracked objects {sum(b.values()) - sum(a.values()):+d}")
    for gen, (x, y) in enumerate(zip(old["gc"], new["gc"], strict=True)):
        lines.append(
            f"generation {gen}: {y['collections'] - x['collections']:+d} collections, "
            f"{y['collected'] - x['collected']:+d} objects collected"
        )
    changed = sorted(set(a) | set(b), key=lambda k: -abs(b.get(k, 0) - a.get(k, 0)))
    for name in changed[:top]:
        lines.append(f"{b.get(name, 0) - a.get(name, 0):+9d} {name} ({b.get(name, 0)})")
    return lines


def count_series(directory: Path) -> list[str]:
    """The counts taken in a run, a line each (pymalloc blocks, glibc's heap in use and
    free, gc-tracked objects), then what grew from the first to the last."""
    paths = sorted(directory.glob("counts-*.json"), key=lambda p: int(p.stem.partition("-")[2]))
    lines = ["counts: pymalloc blocks, heap in use / free (MiB), gc-tracked objects"]
    for path in paths:
        c = json.loads(path.read_text())
        h = c["heap"]
        mib = f"{h['in_use'] / 2**20:8.2f} {h['free'] / 2**20:8.2f}" if h else "       -        -"
        lines.append(f"{path.stem:>10} {c['blocks']:>10} {mib} {sum(c['objects'].values()):>9}")
    if len(paths) >= 2:
        lines += count_growth(paths[0], paths[-1])
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
    if os.environ.get(GC_VARIABLE) == "1":
        # `serve` freezes its start-up heap, then sets its thresholds: that call is ignored.
        gc.set_threshold = lambda *thresholds: None
    if os.environ.get(DIR_VARIABLE):
        tracemalloc.start(FRAMES)
        _dump_on_sigusr1(Path(os.environ[DIR_VARIABLE]))
    if os.environ.get(COUNTS_VARIABLE):
        _count_on_sigusr2(Path(os.environ[COUNTS_VARIABLE]))
    sys.exit(main())
