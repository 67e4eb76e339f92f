"""What a load run does: target, rate, bounds, the workload mix and its distributions."""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field

from cim_router.client.connection import DEFAULT_TARGET, Tls
from cim_router.client.names import CHANNELS

DISTRIBUTIONS = ("exponential", "lognormal")


def fresh_tenant() -> str:
    """A tenant of its own per run, so runs never see each other's agents or counters."""
    return f"loadgen-{secrets.token_hex(4)}"


def parse_mix(text: str) -> dict[str, float]:
    """`chat=3,voice=1` -> {"chat": 3.0, "voice": 1.0}; a bare name weighs 1."""
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, sep, weight = part.strip().partition("=")
        name = name.strip().lower()
        if not name:
            continue
        if name not in CHANNELS.names():
            raise ValueError(f"unknown channel {name!r} (expected {', '.join(CHANNELS.names())})")
        try:
            w = float(weight) if sep else 1.0
        except ValueError:
            raise ValueError(f"{part.strip()!r}: weight is not a number") from None
        if not (w >= 0 and math.isfinite(w)):
            raise ValueError(f"{part.strip()!r}: weight must be >= 0")
        mix[name] = w
    if not mix or sum(mix.values()) <= 0:
        raise ValueError(f"{text!r}: no channel with a positive weight")
    return mix


@dataclass(frozen=True)
class LoadConfig:
    """One run. Arrivals stop after `duration` seconds or `count` interactions, whichever
    comes first (None: no bound of that kind; at least one must be set); then the run waits
    up to `grace` seconds for interactions still open and stops."""

    target: str = DEFAULT_TARGET
    tenant: str = field(default_factory=fresh_tenant)
    token: str | None = field(default=None, repr=False)  # the API key, if the router wants one
    tls: Tls | None = field(default=None, repr=False)
    rate: float = 50.0  # interactions per second, Poisson arrivals
    duration: float | None = 10.0
    count: int | None = None
    agents: int = 50
    channels: dict[str, float] = field(default_factory=lambda: {"chat": 3.0, "voice": 1.0})
    skills: int = 8
    handle_mean: float = 2.0  # seconds from accept to complete
    handle_distribution: str = "lognormal"
    handle_sigma: float = 0.5  # lognormal shape
    patience_mean: float = 30.0  # seconds a customer waits before cancelling, exponential
    think_time: float = 0.05  # seconds from the offer on the stream to Accept
    sla_seconds: float = 20.0  # answered within this counts towards the service level
    grace: float = 10.0
    streams: int = 1  # WatchAssignments streams the agents are spread over
    max_in_flight: int = 10_000  # safety cap on concurrent calls; arrivals beyond are skipped
    timeout: float = 10.0  # per call
    seed: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        checks = [
            (self.rate > 0, "rate: must be > 0"),
            (self.duration is None or self.duration > 0, "duration: must be > 0"),
            (self.count is None or self.count > 0, "count: must be > 0"),
            (self.duration is not None or self.count is not None, "give a duration or a count"),
            (self.agents >= 0, "agents: must be >= 0"),
            (self.skills >= 1, "skills: must be >= 1"),
            (self.handle_mean >= 0, "handle_mean: must be >= 0"),
            (self.handle_distribution in DISTRIBUTIONS, "handle_distribution: unknown"),
            (self.handle_sigma >= 0, "handle_sigma: must be >= 0"),
            (self.patience_mean > 0, "patience_mean: must be > 0"),
            (self.think_time >= 0, "think_time: must be >= 0"),
            (self.sla_seconds > 0, "sla_seconds: must be > 0"),
            (self.grace >= 0, "grace: must be >= 0"),
            (self.streams >= 1, "streams: must be >= 1"),
            (self.max_in_flight >= 1, "max_in_flight: must be >= 1"),
            (self.timeout > 0, "timeout: must be > 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        parse_mix(",".join(f"{k}={v}" for k, v in self.channels.items()))
