"""What a run measures: latency samples, counts of outcomes, errors and agent busy time."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

RPCS = ("Enqueue", "Accept", "Complete", "Cancel", "Reject")


class Occupancy:
    """Busy agent-seconds, from the interactions agents hold: an agent holding n
    interactions of a channel where its capacity is c is n/c busy (1 at most), over time."""

    def __init__(self) -> None:
        self._load: dict[str, float] = {}
        self._since: dict[str, float] = {}
        self._busy = 0.0

    def change(self, agent_id: str, delta: float, now: float) -> None:
        load = self._load.get(agent_id, 0.0)
        self._busy += min(1.0, load) * (now - self._since.get(agent_id, now))
        self._load[agent_id] = max(0.0, load + delta)
        self._since[agent_id] = now

    def busy_seconds(self, now: float) -> float:
        held = sum(
            min(1.0, load) * (now - self._since[a]) for a, load in self._load.items() if load
        )
        return self._busy + held


@dataclass
class Recorder:
    """Samples are seconds from time.perf_counter; errors are counted per RPC and code."""

    rpc: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in RPCS})
    offer: list[float] = field(default_factory=list)  # enqueue sent -> first OFFERED seen
    waits: list[float] = field(default_factory=list)  # enqueue sent -> Accept acknowledged
    errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    occupancy: Occupancy = field(default_factory=Occupancy)

    def call(self, name: str, seconds: float) -> None:
        self.rpc.setdefault(name, []).append(seconds)

    def error(self, name: str, code: str) -> None:
        self.errors[name, code] += 1

    def errors_of(self, name: str) -> int:
        return sum(n for (rpc, _), n in self.errors.items() if rpc == name)
