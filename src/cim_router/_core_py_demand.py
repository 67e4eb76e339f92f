"""The pure-Python twin's demand and service-level bookkeeping, in the compiled core's
arithmetic order (core_c/demand.pxi): what the scarcity term and the queue boost read."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from cim_router._core_common import SERVICE_LEVEL_PRIOR


class Demand:
    """Per skill: agents holding it, waiting work needing it, and recent arrivals needing it
    (a count decaying with the horizon, so that it reads as the arrivals expected over it)."""

    def __init__(self, horizon: float) -> None:
        self.horizon = horizon
        self.agents: dict[int, int] = {}
        self.waiting: dict[int, int] = {}
        self.arrivals: dict[int, list[float]] = {}  # skill -> [decayed count, as of]

    def staff(self, skills: Mapping[int, int], step: int) -> None:
        for s in skills:
            self.agents[s] = self.agents.get(s, 0) + step

    def wait(self, required: Iterable[tuple[int, int]], step: int) -> None:
        for s, _level in required:
            self.waiting[s] = self.waiting.get(s, 0) + step

    def arrive(self, required: Iterable[tuple[int, int]], at: float) -> None:
        for s, _level in required:
            entry = self.arrivals.setdefault(s, [0.0, -math.inf])
            if at >= entry[1]:
                entry[0] = entry[0] * math.exp(-(at - entry[1]) / self.horizon) + 1.0
                entry[1] = at
            else:
                entry[0] = entry[0] + math.exp(-(entry[1] - at) / self.horizon)

    def pressure(self, s: int, now: float, idle: int) -> float:
        """How much skill `s` needs the agents free for it now: its waiting work plus its
        expected arrivals per agent holding it, over the `idle` holders free to take it."""
        expected = 0.0
        entry = self.arrivals.get(s)
        if entry is not None and entry[0] > 0.0:
            dt = now - entry[1]
            expected = entry[0] * math.exp(-dt / self.horizon) if dt > 0.0 else entry[0]
        return (self.waiting.get(s, 0) + expected / max(1, self.agents.get(s, 0))) / max(1, idle)

    def scarcity(self, others: Iterable[tuple[int, int]], now: float) -> float:
        """1 / (1 + the pressure on an agent's other skills, given as (skill, idle holders)):
        1 when they are not needed."""
        total = 0.0
        for s, idle in others:
            total += self.pressure(s, now, idle)
        return 1.0 / (1.0 + total)


class ServiceLevels:
    """Per queue gate: the recent share answered within target (decaying with the horizon,
    smoothed towards the target), and the urgency boost of being behind it."""

    def __init__(self, weight: float, horizon: float) -> None:
        self.weight = weight
        self.horizon = horizon
        self.gates: dict[int, list[float]] = {}  # gate -> [hits, total, as of, share, boost]

    def _gate(self, gate: int) -> list[float]:
        return self.gates.setdefault(gate, [0.0, 0.0, -math.inf, 0.0, 0.0])

    def target(self, gate: int, share: float) -> None:
        g = self._gate(gate)
        g[3] = share
        g[4] = _boost(self.weight, g)

    def count(self, gate: int, hit: bool, answered: bool, now: float) -> None:
        if hit and not answered:
            return  # left within target: neither a hit nor a miss
        g = self._gate(gate)
        if now >= g[2]:
            f = math.exp(-(now - g[2]) / self.horizon)
            g[0] = g[0] * f
            g[1] = g[1] * f
            g[2] = now
        g[0] = g[0] + (1.0 if hit else 0.0)
        g[1] = g[1] + 1.0
        g[4] = _boost(self.weight, g)

    def boost(self, gate: int) -> float:
        g = self.gates.get(gate)
        return 0.0 if g is None else g[4]


def _boost(weight: float, g: list[float]) -> float:
    share = g[3]
    if share <= 0.0:
        return 0.0
    level = (g[0] + SERVICE_LEVEL_PRIOR * share) / (g[1] + SERVICE_LEVEL_PRIOR)
    if level >= share:
        return 0.0
    return weight * (share - level) / share
