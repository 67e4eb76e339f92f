"""One line a second on stderr while a run goes on: elapsed, sent, rate, in flight, p99."""

from __future__ import annotations

import asyncio
from time import perf_counter
from typing import IO, TYPE_CHECKING

from cim_router.loadgen.percentiles import percentile

if TYPE_CHECKING:
    from cim_router.loadgen.runner import LoadRun


class Progress:
    def __init__(self, run: LoadRun, out: IO[str], every: float = 1.0) -> None:
        self.run = run
        self.out = out
        self.every = every
        self._started = 0.0
        self._arrivals_ended: float | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self, now: float) -> None:
        self._started = now
        self._task = asyncio.create_task(self._loop())

    def draining(self, now: float) -> None:
        self._arrivals_ended = now

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            print(self.line(perf_counter()), file=self.out, flush=True)

    def line(self, now: float) -> str:
        run = self.run
        arrivals = (self._arrivals_ended or now) - self._started
        rate = run.sent / arrivals if arrivals > 0 else 0.0
        offers = sorted(run.rec.offer)
        p99 = f"{percentile(offers, 99) * 1e3:.2f} ms" if offers else "-"
        phase = "draining" if self._arrivals_ended is not None else "running"
        return (
            f"loadgen {now - self._started:6.1f}s {phase}  sent {run.sent}  rate {rate:.1f}/s  "
            f"in flight {run.in_flight}  open {run.open_interactions()}  "
            f"p99 enqueue->offer {p99} ({len(offers)})"
        )
