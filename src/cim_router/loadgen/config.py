"""What a load run does: target, rate, bounds, the workload mix and its distributions, and
how agents and customers behave (rejects, missed offers, CSAT, returning customers, queues)."""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from cim_router.client.connection import DEFAULT_TARGET, Tls
from cim_router.client.names import CHANNELS
from cim_router.domain.limits import MAX_WATCHED_AGENTS

DISTRIBUTIONS = ("exponential", "lognormal")
MAX_QUEUE_ID = 128


def fresh_tenant() -> str:
    """A tenant of its own per run, so runs never see each other's agents or counters."""
    return f"loadgen-{secrets.token_hex(4)}"


def _weights(text: str, check: Callable[[str], None], lower: bool) -> dict[str, float]:
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, sep, weight = part.strip().partition("=")
        name = name.strip().lower() if lower else name.strip()
        if not name:
            continue
        check(name)
        try:
            w = float(weight) if sep else 1.0
        except ValueError:
            raise ValueError(f"{part.strip()!r}: weight is not a number") from None
        if not (w >= 0 and math.isfinite(w)):
            raise ValueError(f"{part.strip()!r}: weight must be >= 0")
        mix[name] = w
    return mix


def _channel(name: str) -> None:
    if name not in CHANNELS.names():
        raise ValueError(f"unknown channel {name!r} (expected {', '.join(CHANNELS.names())})")


def _queue(name: str) -> None:
    if len(name) > MAX_QUEUE_ID or not name.isprintable() or "=" in name:
        raise ValueError(f"{name!r}: a queue id is 1..{MAX_QUEUE_ID} printable characters")


def parse_mix(text: str) -> dict[str, float]:
    """`chat=3,voice=1` -> {"chat": 3.0, "voice": 1.0}; a bare name weighs 1."""
    mix = _weights(text, _channel, lower=True)
    if not mix or sum(mix.values()) <= 0:
        raise ValueError(f"{text!r}: no channel with a positive weight")
    return mix


def parse_queues(text: str) -> dict[str, float]:
    """`sales=0.6,support=0.4` -> {"sales": 0.6, "support": 0.4}; a bare id weighs 1; the
    empty string: no queue mix (every Enqueue names no queue)."""
    if not text.strip():
        return {}
    mix = _weights(text, _queue, lower=False)
    if not mix or sum(mix.values()) <= 0:
        raise ValueError(f"{text!r}: no queue with a positive weight")
    return mix


def _probability(value: float) -> bool:
    return 0.0 <= value <= 1.0


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
    abandon_probability: float = 1.0  # share of customers who hang up at all when unanswered
    reject_probability: float = 0.0  # an agent rejects an offer
    no_answer_probability: float = 0.0  # an agent lets an offer expire
    csat: bool = False  # a score 1..5 at every Complete
    csat_mean: float = 4.2  # 1 + Binomial(4, (mean - 1) / 4): mean exact, scores 1..5
    returning_customers: float = 0.0  # share of interactions from an earlier customer
    queues: dict[str, float] = field(default_factory=dict)  # queue mix; empty: no queue named
    think_time: float = 0.05  # seconds from the offer on the stream to Accept
    sla_seconds: float = 20.0  # answered within this counts towards the service level
    grace: float = 10.0
    streams: int = 1  # WatchAssignments (or Session) streams the agents are spread over
    session: bool = False  # the interactions' calls and events over Session streams
    max_in_flight: int = 10_000  # safety cap on concurrent calls; arrivals beyond are skipped
    timeout: float = 10.0  # per call
    seed: int | None = None
    progress: bool = True

    @property
    def stream_count(self) -> int:
        """The streams the agents are spread over: `streams`, or more where one stream
        would follow more agents (the run's and its probe agent) than a watch may name."""
        return max(self.streams, math.ceil((self.agents + 1) / MAX_WATCHED_AGENTS))

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
            (_probability(self.abandon_probability), "abandon_probability: must be in 0..1"),
            (_probability(self.reject_probability), "reject_probability: must be in 0..1"),
            (_probability(self.no_answer_probability), "no_answer_probability: must be in 0..1"),
            (
                self.reject_probability + self.no_answer_probability <= 1.0,
                "reject_probability + no_answer_probability: must be <= 1",
            ),
            (1.0 <= self.csat_mean <= 5.0, "csat_mean: must be in 1..5"),
            (_probability(self.returning_customers), "returning_customers: must be in 0..1"),
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
        if self.queues:
            parse_queues(",".join(f"{k}={v}" for k, v in self.queues.items()))
