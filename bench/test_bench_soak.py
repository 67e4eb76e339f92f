"""Router RSS over a soak: `cim-router serve` at 100 interactions/s for 5 minutes.

`cim-router serve` runs as a child process on the test Redis (defaults, metrics on,
wrap-up 0, offers open longer than any life), as in test_bench_e2e_latency.py; the load
generator (`cim_router.loadgen`) runs in this process: 300 agents on one stream who accept
every offer and complete after ~1 s (lognormal), open-loop Poisson arrivals at 100/s, no
customer abandons. Every `FULL_SAMPLE` seconds a sampler on the same event loop reads the
server's VmRSS from /proc/PID/status and counts the lives completed so far (Enqueue, the
offer, Accept, Complete).

Figures: RSS at the end of the warm-up (the first `FULL_WARMUP` seconds of the run, its
setup of the agents included), RSS at the end, the maximum, and the least-squares slope of RSS
against time over the samples after the warm-up, in KiB per minute and extrapolated to a
day. Bar (the full run only): growth after the warm-up <= `BAR_GROWTH_MIB` and a slope
<= `BAR_MIB_PER_DAY` (see `flatness`). The load must have been served: no errors, every
life sent completed, and as many as 100/s x duration within 5 standard deviations of a
Poisson count.

By default (the test suite) a check of about 12 s: 6 s of load, a sample a second, no
bar. `CIM_BENCH_FULL=1` with `--benchmark-enable` runs the soak (about 5.5 minutes); it is
marked `slow`, so it also needs `-m slow`:

    CIM_BENCH_FULL=1 .venv/bin/pytest bench/test_bench_soak.py --benchmark-enable -m slow -s

For finding what grows: CIM_BENCH_SOAK_SECONDS, CIM_BENCH_SOAK_WARMUP and CIM_BENCH_SOAK_RATE
change the soak; CIM_BENCH_SOAK_TRACEMALLOC=1 runs the router under tracemalloc
(bench/traced_serve.py) and prints the allocation sites that grew after the warm-up;
CIM_BENCH_SOAK_CAPS=N caps the router's bounded in-memory caches at N entries;
CIM_BENCH_SOAK_COUNTS=1 has the router count its live objects by type, pymalloc's blocks and
glibc's heap (bench/traced_serve.py, cheap enough for the full rate) at the end of the
warm-up and every minute after, and prints how they grew; CIM_BENCH_SOAK_DEFAULT_GC=1 runs
the router with Python's default collector thresholds instead of `serve`'s.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
import signal
import statistics
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any

import pytest

from bench import traced_serve
from bench.router_process import cpu_seconds, rss_kib, serving
from cim_router.loadgen import LoadConfig, LoadRun

FULL = os.environ.get("CIM_BENCH_FULL") == "1"
# The soak's length and warm-up can be changed for a longer look (e.g. to see where the
# router's bounded caches stop growing): CIM_BENCH_SOAK_SECONDS, CIM_BENCH_SOAK_WARMUP.
FULL_SECONDS = float(os.environ.get("CIM_BENCH_SOAK_SECONDS", "300"))
FULL_WARMUP = float(os.environ.get("CIM_BENCH_SOAK_WARMUP", "60"))
FULL_SAMPLE = 5.0
CHECK_SECONDS, CHECK_WARMUP, CHECK_SAMPLE = 4.0, 2.0, 0.5
RATE = float(os.environ.get("CIM_BENCH_SOAK_RATE", "100"))
TRACE = os.environ.get("CIM_BENCH_SOAK_TRACEMALLOC") == "1"
CAPS = os.environ.get("CIM_BENCH_SOAK_CAPS", "")  # N: the router's caches capped at N
COUNTS = os.environ.get("CIM_BENCH_SOAK_COUNTS") == "1"
DEFAULT_GC = os.environ.get("CIM_BENCH_SOAK_DEFAULT_GC") == "1"  # Python's thresholds
COUNT_EVERY = 60.0
AGENTS = 300
HANDLE_MEAN = 1.0  # seconds: ~100 lives held at once, of ~600 agent slots
# Flat: after the warm-up the RSS grows by no more than 4 MiB, and its least-squares trend
# would add no more than 48 MiB over a day (33 KiB a minute). The day bar is what a router
# left running for days needs, and it catches any leak per life: at 100/s a day is 8.64
# million lives, and keeping even one small object for each (>= 32 B) adds >= 260 MiB a
# day, five times the bar. The growth bar leaves room for RSS moving in steps (pymalloc
# arenas, glibc heap trims): on the 2-core machine, with the router's caches capped, the
# samples scattered by ~0.9 MiB about the trend, with passing rises of up to 4 MiB. That
# scatter also bounds what 5 minutes resolve: the slope's standard error (printed with it)
# came to ~150 KiB a minute, so only a flat router on a quiet machine meets the day bar,
# and a slope many standard errors above it is growth, not noise.
BAR_GROWTH_MIB = 4.0
BAR_MIB_PER_DAY = 48.0
POISSON_SIGMAS = 5.0


@dataclass(frozen=True)
class Sample:
    t: float  # seconds since the load run started
    rss_kib: int
    completed: int  # lives completed so far


def workload(target: str, seconds: float) -> LoadConfig:
    return LoadConfig(
        target=target,
        rate=RATE,
        duration=seconds,
        agents=AGENTS,
        channels={"chat": 3.0, "voice": 1.0},
        skills=16,
        handle_mean=HANDLE_MEAN,
        patience_mean=120.0,
        abandon_probability=0.0,  # every life ends in Complete
        grace=15.0,
        seed=1,
        progress=False,
    )


def slope_kib_per_minute(samples: list[Sample]) -> tuple[float, float]:
    """Least-squares slope of RSS against time, and its standard error (from the scatter
    of the samples about the line), in KiB a minute."""
    t = [s.t for s in samples]
    rss = [float(s.rss_kib) for s in samples]
    fit = statistics.linear_regression(t, rss)
    mean = statistics.fmean(t)
    residual = sum((y - fit.intercept - fit.slope * x) ** 2 for x, y in zip(t, rss, strict=True))
    spread = sum((x - mean) ** 2 for x in t)
    se = math.sqrt(residual / (len(t) - 2) / spread) if spread > 0 else math.inf
    return fit.slope * 60.0, se * 60.0


def flatness(samples: list[Sample], warmup: float) -> dict[str, Any]:
    """The RSS figures of a run, and whether they meet the bar."""
    if not samples or samples[0].t > warmup or samples[-1].t <= warmup:
        raise ValueError("need samples before and after the warm-up")
    warm = min(samples, key=lambda s: abs(s.t - warmup))
    after = [s for s in samples if s.t >= warm.t]
    if len(after) < 3:
        raise ValueError("need at least 3 samples from the end of the warm-up on")
    slope, se = slope_kib_per_minute(after)
    per_day_mib = slope * 60 * 24 / 1024
    growth_mib = (after[-1].rss_kib - warm.rss_kib) / 1024
    return {
        "warmup_seconds": warmup,
        "rss_start_mib": samples[0].rss_kib / 1024,
        "rss_warm_mib": warm.rss_kib / 1024,
        "rss_end_mib": after[-1].rss_kib / 1024,
        "rss_max_mib": max(s.rss_kib for s in samples) / 1024,
        "growth_after_warmup_mib": growth_mib,
        "slope_kib_per_minute": slope,
        "slope_mib_per_day": per_day_mib,
        "slope_se_kib_per_minute": se,
        "bar_growth_mib": BAR_GROWTH_MIB,
        "bar_mib_per_day": BAR_MIB_PER_DAY,
        "bar_met": growth_mib <= BAR_GROWTH_MIB and per_day_mib <= BAR_MIB_PER_DAY,
    }


async def _sample(run: LoadRun, pid: int, every: float, out: list[Sample]) -> None:
    started = perf_counter()
    while True:
        rss = rss_kib(pid)
        assert rss is not None, "no /proc/PID/status: no RSS figure"
        done = sum(1 for c in run.customers.values() if c.completed)
        out.append(Sample(perf_counter() - started, rss, done))
        await asyncio.sleep(every - (perf_counter() - started) % every)


async def _snapshot(pid: int, path: Path, after: float = 0.0, signum: int = signal.SIGUSR1) -> None:
    """Ask a server under bench.traced_serve for a snapshot (SIGUSR1) or its counts
    (SIGUSR2); wait until it is written."""
    await asyncio.sleep(after)
    os.kill(pid, signum)
    size = -1
    for _ in range(600):
        await asyncio.sleep(0.5)
        if path.exists() and path.stat().st_size == size:
            return
        size = path.stat().st_size if path.exists() else -1
    raise RuntimeError(f"no snapshot {path}")


async def _count(pid: int, directory: Path, warmup: float, seconds: float) -> int:
    """The router's counts at the end of the warm-up and every COUNT_EVERY s after, until
    the run's end; how many were taken."""
    started = perf_counter()
    n = 0
    for at in itertools.count(warmup, COUNT_EVERY):
        if at > seconds:
            break
        n += 1
        wait = max(0.0, at - (perf_counter() - started))
        await _snapshot(pid, traced_serve.counts_path(directory, n), wait, signal.SIGUSR2)
    return n


async def _soak(
    target: str,
    pid: int,
    seconds: float,
    warmup: float,
    every: float,
    trace: Path | None,
    counting: Path | None = None,
) -> dict[str, Any]:
    run = LoadRun(workload(target, seconds))
    samples: list[Sample] = []
    sampler = asyncio.create_task(_sample(run, pid, every, samples))
    warm = (
        None
        if trace is None
        else asyncio.create_task(_snapshot(pid, traced_serve.snapshot_path(trace, 1), warmup))
    )
    counted = (
        None if counting is None else asyncio.create_task(_count(pid, counting, warmup, seconds))
    )
    try:
        report = await run.run()
        if counted is not None:
            await counted
        if warm is not None and trace is not None:
            await warm
            await _snapshot(pid, traced_serve.snapshot_path(trace, 2))
    finally:
        sampler.cancel()
        (stopped,) = await asyncio.gather(sampler, return_exceptions=True)
    if isinstance(stopped, Exception):  # the sampler failed, not cancelled: no figures
        raise stopped
    return {"report": report, "samples": samples}


def soak(tmp: Path, seconds: float, warmup: float, every: float) -> dict[str, Any]:
    """One soak on a router of its own: the load report, the samples, the RSS figures.
    With CIM_BENCH_SOAK_TRACEMALLOC=1 the router runs under tracemalloc (bench.traced_serve,
    far slower: give it a lower CIM_BENCH_SOAK_RATE) and what grew from the end of the
    warm-up to the end of the run is printed."""
    trace = tmp / "tracemalloc" if TRACE else None
    counting = tmp / "counts" if COUNTS else None
    env: dict[str, str] = {}
    if trace is not None:
        trace.mkdir()
        env[traced_serve.DIR_VARIABLE] = str(trace)
    if counting is not None:
        counting.mkdir()
        env[traced_serve.COUNTS_VARIABLE] = str(counting)
    if CAPS:
        env[traced_serve.CAPS_VARIABLE] = CAPS
    if DEFAULT_GC:
        env[traced_serve.GC_VARIABLE] = "1"
    module = "bench.traced_serve" if env else "cim_router.cli"
    with serving(tmp, env, module) as server:
        cpu_before = cpu_seconds(server.pid)
        result = asyncio.run(
            _soak(server.address, server.pid, seconds, warmup, every, trace, counting)
        )
        cpu_after = cpu_seconds(server.pid)
        final = rss_kib(server.pid)
    if trace is not None:
        one, two = (traced_serve.snapshot_path(trace, n) for n in (1, 2))
        print("\n" + "\n".join(traced_serve.growth(one, two)))
    if counting is not None:
        print("\n" + "\n".join(traced_serve.count_series(counting)))
    samples: list[Sample] = result["samples"]
    report: dict[str, Any] = result["report"]
    figures = flatness(samples, warmup)
    figures.update(
        seconds=seconds,
        rate=RATE,
        agents=AGENTS,
        samples=len(samples),
        sample_seconds=every,
        rss_after_drain_mib=None if final is None else final / 1024,
        sent=report["sent"],
        completed=report["completed"],
        errors_total=report["errors_total"],
        errors=report["errors"],
        drained=report["drained"],
        achieved_rate=report["throughput"]["achieved_rate"],
        offer_p99_ms=report["latency_ms"]["enqueue_to_offer"]["p99"],
        server_cpu_seconds=(
            None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
        ),
    )
    return {"figures": figures, "samples": samples}


def check_served(figures: dict[str, Any]) -> None:
    """The load was served: no errors, every life completed, as many as the rate says."""
    assert figures["errors_total"] == 0, figures["errors"]
    assert figures["drained"]
    assert figures["completed"] == figures["sent"], (figures["completed"], figures["sent"])
    expected = figures["rate"] * figures["seconds"]
    assert abs(figures["completed"] - expected) <= POISSON_SIGMAS * math.sqrt(expected), (
        figures["completed"],
        expected,
    )


def table(samples: list[Sample], every: float) -> list[tuple[float, float, int, float]]:
    """(t s, RSS MiB, lives completed, lives/s since the row before), a row every `every` s."""
    rows: list[tuple[float, float, int, float]] = []
    last: Sample | None = None
    for s in samples:
        if last is None or s.t - last.t >= every - 0.5 or s is samples[-1]:
            rate = 0.0 if last is None else (s.completed - last.completed) / (s.t - last.t)
            rows.append((s.t, s.rss_kib / 1024, s.completed, rate))
            last = s
    return rows


def show(figures: dict[str, Any], samples: list[Sample], every: float, bar: bool) -> None:
    f = figures
    print(
        f"\nrouter RSS, {f['rate']:g}/s for {f['seconds']:g} s, {f['agents']} agents, "
        f"a sample every {f['sample_seconds']:g} s ({f['samples']} samples)"
    )
    print(f"{'t (s)':>7} {'RSS (MiB)':>10} {'completed':>10} {'lives/s':>8}")
    for t, rss, done, rate in table(samples, every):
        print(f"{t:>7.1f} {rss:>10.1f} {done:>10} {rate:>8.1f}")
    print(
        f"RSS: start {f['rss_start_mib']:.1f} MiB, end of warm-up ({f['warmup_seconds']:g} s) "
        f"{f['rss_warm_mib']:.1f} MiB, end {f['rss_end_mib']:.1f} MiB, max "
        f"{f['rss_max_mib']:.1f} MiB; after warm-up {f['growth_after_warmup_mib']:+.2f} MiB, "
        f"slope {f['slope_kib_per_minute']:+.1f} KiB/min (+-{f['slope_se_kib_per_minute']:.1f}) = "
        f"{f['slope_mib_per_day']:+.1f} "
        f"MiB/day; bar <= {BAR_GROWTH_MIB:g} MiB and <= {BAR_MIB_PER_DAY:g} MiB/day: "
        f"{'met' if f['bar_met'] else 'NOT met'}{'' if bar else ' (not asserted in the check)'}"
    )
    cpu = f["server_cpu_seconds"]
    print(
        f"load: sent {f['sent']}, completed {f['completed']}, errors {f['errors_total']}, "
        f"acknowledged {f['achieved_rate']:.1f}/s, enqueue->offer p99 "
        f"{f['offer_p99_ms']:.2f} ms, server CPU "
        f"{'-' if cpu is None else f'{cpu:.1f} s'}"
    )


def test_flatness_tells_growth_from_noise() -> None:
    """The bar itself: a noisy flat series meets it, a slow leak or a step does not."""
    noise = [((k * 7919) % 13 - 6) * 40 for k in range(61)]  # +-240 KiB, no trend
    flat = [Sample(5.0 * k, 100_000 + n, 500 * k) for k, n in enumerate(noise)]
    assert flatness(flat, 60.0)["bar_met"]
    assert abs(flatness(flat, 60.0)["slope_kib_per_minute"]) < 10
    leak = [Sample(s.t, s.rss_kib + int(s.t / 60 * 100), s.completed) for s in flat]
    figures = flatness(leak, 60.0)  # 100 KiB/min: 141 MiB a day, 0.4 MiB in 4 minutes
    assert 95 < figures["slope_kib_per_minute"] < 105
    assert not figures["bar_met"]
    step = [Sample(s.t, s.rss_kib + (6_000 if s.t > 200 else 0), s.completed) for s in flat]
    assert not flatness(step, 60.0)["bar_met"]  # +5.9 MiB after the warm-up
    with pytest.raises(ValueError):
        flatness(flat[:12], 60.0)  # nothing after the warm-up


def test_counts_name_what_grew(tmp_path: Path) -> None:
    """The router's counts (bench/traced_serve.py) as the soak prints them: a line per
    count, and the type that grew between the first and the last named with its growth."""
    first = traced_serve.counts()
    assert first["blocks"] > 0 and first["objects"]
    traced_serve.counts_path(tmp_path, 1).write_text(json.dumps(first))
    later = json.loads(json.dumps(first))
    later["objects"]["Leaky"] = 500
    later["blocks"] += 1000
    traced_serve.counts_path(tmp_path, 2).write_text(json.dumps(later))
    lines = traced_serve.count_series(tmp_path)
    assert lines[1].split()[0] == "counts-1" and lines[2].split()[0] == "counts-2"
    assert lines[3].startswith("pymalloc blocks +1000 ")
    assert "+500 Leaky (500)" in [line.strip() for line in lines]


def test_rss_sampled_under_load(benchmark: Any, tmp_path: Path) -> None:
    """The short check: the sampler reads the server's RSS and the load is served."""
    benchmark.group = "soak: router RSS at 100/s, check"
    result = benchmark.pedantic(
        soak, args=(tmp_path, CHECK_SECONDS, CHECK_WARMUP, CHECK_SAMPLE), rounds=1, iterations=1
    )
    figures, samples = result["figures"], result["samples"]
    benchmark.extra_info.update(figures)
    show(figures, samples, CHECK_SAMPLE, bar=False)
    assert figures["samples"] >= CHECK_SECONDS / CHECK_SAMPLE
    # A Python process with grpc, numpy and redis loaded holds tens of MiB; a figure below
    # 20 MiB or above 2 GiB is not the server's RSS.
    assert all(20 * 1024 < s.rss_kib < 2 * 1024 * 1024 for s in samples)
    times = [s.t for s in samples]
    assert times == sorted(times)
    assert max(b - a for a, b in itertools.pairwise(times)) < 3 * CHECK_SAMPLE
    # The sampler sees the lives complete as the run goes, not only at its end.
    middle = [s.completed for s in samples if 0.5 * CHECK_SECONDS < s.t < 0.9 * CHECK_SECONDS]
    assert middle and 0 < middle[0] < middle[-1] < figures["completed"]
    check_served(figures)


@pytest.mark.slow
def test_router_rss_flat_over_soak(benchmark: Any, tmp_path: Path) -> None:
    """The soak: 5 minutes at 100/s, the RSS flat after the first minute."""
    if not FULL or benchmark.disabled:
        pytest.skip("the soak runs with CIM_BENCH_FULL=1 and --benchmark-enable")
    benchmark.group = "soak: router RSS at 100/s, 5 minutes"
    result = benchmark.pedantic(
        soak, args=(tmp_path, FULL_SECONDS, FULL_WARMUP, FULL_SAMPLE), rounds=1, iterations=1
    )
    figures, samples = result["figures"], result["samples"]
    benchmark.extra_info.update(figures)
    benchmark.extra_info["rss_kib"] = [(round(s.t, 1), s.rss_kib) for s in samples]
    show(figures, samples, 30.0, bar=True)
    check_served(figures)
    assert figures["bar_met"], (
        f"RSS grew {figures['growth_after_warmup_mib']:+.2f} MiB after the warm-up, "
        f"{figures['slope_mib_per_day']:+.1f} MiB/day"
    )
