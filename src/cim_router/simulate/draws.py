"""The random draws of one replication, made before it runs: every arrival's time, its
patience and its unit handle time, and every agent's answers to offers.

Each kind of draw has its own numpy Generator, seeded from (seed, replication, stream,
kind), so that every policy of a comparison sees the same customers at the same times
with the same patience and work (common random numbers), whatever the routing does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cim_router.simulate.scenario import ArrivalStream, Scenario

ARRIVALS, PATIENCE, HANDLE, AGENTS, TRANSFERS = 0, 1, 2, 3, 4


def generator(seed: int, replication: int, *key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence((seed, replication, *key))))


@dataclass(frozen=True)
class Customer:
    """One simulated interaction, as drawn."""

    id: str
    stream: int  # index into the scenario's arrivals
    at: float  # seconds from the start of the day
    patience: float  # seconds; inf: never hangs up
    unit_work: float  # handle time over its mean (mean 1)
    transfer_draw: float = 1.0  # uniform: transferred when below the stream's probability
    unit_transfer_work: float = 1.0  # the second agent's handle time over its mean


def unit_handle_times(stream: ArrivalStream, rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` handle times over their mean, from the stream's distribution (mean 1)."""
    if stream.handle_time_distribution == "lognormal":
        sigma2 = math.log1p(stream.handle_time_cv**2)
        return rng.lognormal(-sigma2 / 2.0, math.sqrt(sigma2), n)
    return rng.exponential(1.0, n)


def arrival_times(
    scenario: Scenario, stream: ArrivalStream, rng: np.random.Generator
) -> np.ndarray:
    """A Poisson process with a rate constant within each interval (exponential gaps
    restart at each boundary: the process is memoryless)."""
    out: list[np.ndarray] = []
    step = scenario.interval_seconds
    end = scenario.duration_seconds
    for k in range(scenario.intervals):
        lo, hi = k * step, min(end, (k + 1) * step)
        rate = stream.rate(k) / 3600.0
        if rate <= 0 or hi <= lo:
            continue
        n = int(rng.poisson(rate * (hi - lo)))
        out.append(np.sort(rng.uniform(lo, hi, n)))
    return np.concatenate(out) if out else np.zeros(0)


def customers(scenario: Scenario, seed: int, replication: int) -> list[Customer]:
    """Every customer of the day, in arrival order."""
    found: list[Customer] = []
    for s, stream in enumerate(scenario.arrivals):
        times = arrival_times(scenario, stream, generator(seed, replication, s, ARRIVALS))
        n = len(times)
        if stream.patience_mean_seconds is None:
            patience = np.full(n, math.inf)
        else:
            patience = generator(seed, replication, s, PATIENCE).exponential(
                stream.patience_mean_seconds, n
            )
        work = unit_handle_times(stream, generator(seed, replication, s, HANDLE), n)
        transfer_rng = generator(seed, replication, s, TRANSFERS)
        transfer = transfer_rng.random(n)
        second = unit_handle_times(stream, transfer_rng, n)
        found.extend(
            Customer(
                f"s{s}-{k}",
                s,
                float(times[k]),
                float(patience[k]),
                float(work[k]),
                float(transfer[k]),
                float(second[k]),
            )
            for k in range(n)
        )
    found.sort(key=lambda c: c.at)
    return found


class AgentAnswers:
    """One agent's answers to offers, in order: accept, reject or let it expire."""

    ACCEPT, REJECT, NO_ANSWER = 0, 1, 2

    def __init__(
        self, rng: np.random.Generator, reject: float, no_answer: float, block: int = 256
    ) -> None:
        self.rng = rng
        self.reject = reject
        self.no_answer = no_answer
        self.block = block
        self._u: np.ndarray = np.zeros(0)
        self._k = 0

    def next(self) -> int:
        if not self.reject and not self.no_answer:
            return self.ACCEPT
        if self._k >= len(self._u):
            self._u, self._k = self.rng.random(self.block), 0
        u = float(self._u[self._k])
        self._k += 1
        if u < self.reject:
            return self.REJECT
        if u < self.reject + self.no_answer:
            return self.NO_ANSWER
        return self.ACCEPT
