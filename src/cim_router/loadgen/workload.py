"""The simulated contact centre: agents, interactions and their random times, all drawn
from seeded generators so that a run can be repeated: the same seed gives the same agents,
the same interactions (channel, skill, queue, customer, patience, handle time, CSAT) and
the same answer to each offer of an interaction, whatever the server's timing."""

from __future__ import annotations

import math
import random
import secrets
from dataclasses import dataclass
from typing import Literal

from cim_router.client.names import ChannelLike
from cim_router.domain.channel import DEFAULT_CAPACITY, Channel
from cim_router.loadgen.config import LoadConfig


@dataclass(frozen=True)
class AgentSpec:
    id: str
    skills: dict[str, int]
    capacity: dict[ChannelLike, int]  # per channel of the mix; 0 for every other channel
    tier: int


Choice = Literal["accept", "reject", "no_answer"]


@dataclass(frozen=True)
class InteractionSpec:
    id: str
    customer_id: str
    channel: str
    skill: str
    min_level: int
    queue_id: str = ""  # "" when the run has no queue mix
    returning: bool = False  # the customer had an earlier interaction in this run
    patience: float = math.inf  # seconds before hanging up; inf: never hangs up
    handle: float = 0.0  # seconds from accept to complete
    csat: int = 0  # given at Complete, 1..5; 0 for none
    offer_seed: int = 0  # for the agents' answers to its offers, in order


class Offers:
    """The agents' answers to one interaction's offers, the k-th answer the same on every
    run with the seed: reject, let it expire or accept, with the configured chances."""

    def __init__(self, config: LoadConfig, seed: int) -> None:
        self._reject = config.reject_probability
        self._no_answer = config.no_answer_probability
        self._rng = random.Random(seed)

    def next(self) -> Choice:
        u = self._rng.random()
        if u < self._reject:
            return "reject"
        if u < self._reject + self._no_answer:
            return "no_answer"
        return "accept"


def skill_name(k: int) -> str:
    return f"skill-{k}"


class Workload:
    """Draws agents once, then one interaction per arrival, with handle and patience times.

    Every agent serves each channel of the mix at half to all of its default capacity,
    and holds half the skills (at least one, and skill k mod N for agent k, so that
    every skill is covered once there are N agents) at levels 5..10; an interaction needs
    one skill at level 1..5, so any agent holding that skill is eligible.
    """

    def __init__(self, config: LoadConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.run_id = secrets.token_hex(3) if config.seed is None else f"s{config.seed}"
        # Arrival times from a generator of their own: interleaved with the draws of the
        # interactions, they would make those depend on the timing of the event loop.
        seed = None if config.seed is None else f"arrivals-{config.seed}"
        self.arrival_rng = random.Random(seed)
        self._queues = [q for q, w in config.queues.items() if w > 0]
        self._queue_weights = [config.queues[q] for q in self._queues]
        self._customers: list[str] = []  # distinct customers so far, in order of arrival
        names = list(config.channels)
        self._channels = [n for n in names if config.channels[n] > 0]
        self._weights = [config.channels[n] for n in self._channels]

    def agents(self) -> list[AgentSpec]:
        cfg, rng = self.config, self.rng
        per_agent = max(1, cfg.skills // 2)
        out = []
        for k in range(cfg.agents):
            own = {k % cfg.skills} | set(rng.sample(range(cfg.skills), per_agent - 1))
            capacity: dict[ChannelLike, int] = {c.name.lower(): 0 for c in Channel}
            for name in self._channels:
                default = DEFAULT_CAPACITY[Channel.parse(name)]
                capacity[name] = rng.randint((default + 1) // 2, default)
            out.append(
                AgentSpec(
                    f"agent-{k}",
                    {skill_name(s): rng.randint(5, 10) for s in sorted(own)},
                    capacity,
                    rng.randint(1, 5),
                )
            )
        return out

    def interaction(self, n: int) -> InteractionSpec:
        """Arrival n's interaction; call in order of n (each draws from the generator)."""
        cfg, rng = self.config, self.rng
        channel = rng.choices(self._channels, self._weights)[0]
        skill = skill_name(rng.randrange(cfg.skills))
        level = rng.randint(1, 5)
        queue = rng.choices(self._queues, self._queue_weights)[0] if self._queues else ""
        returning = bool(self._customers) and rng.random() < cfg.returning_customers
        if returning:
            customer = self._customers[rng.randrange(len(self._customers))]
        else:
            customer = f"cust-{self.run_id}-{n}"
            self._customers.append(customer)
        hangs_up = rng.random() < cfg.abandon_probability
        patience = self.patience()
        return InteractionSpec(
            f"lg-{self.run_id}-{n}",
            customer,
            channel,
            skill,
            level,
            queue_id=queue,
            returning=returning,
            patience=patience if hangs_up else math.inf,
            handle=self.handle_time(),
            csat=self.csat_score() if cfg.csat else 0,
            offer_seed=rng.getrandbits(64),
        )

    def offers(self, spec: InteractionSpec) -> Offers:
        return Offers(self.config, spec.offer_seed)

    def csat_score(self) -> int:
        """1 + Binomial(4, p) with p = (mean - 1) / 4: scores 1..5 whose mean is csat_mean."""
        p = (self.config.csat_mean - 1.0) / 4.0
        return 1 + sum(1 for _ in range(4) if self.rng.random() < p)

    def handle_time(self) -> float:
        """Seconds from accept to complete: lognormal or exponential with the configured mean."""
        cfg = self.config
        if cfg.handle_mean <= 0:
            return 0.0
        if cfg.handle_distribution == "exponential":
            return self.rng.expovariate(1.0 / cfg.handle_mean)
        mu = math.log(cfg.handle_mean) - cfg.handle_sigma**2 / 2  # so that the mean is exact
        return self.rng.lognormvariate(mu, cfg.handle_sigma)

    def patience(self) -> float:
        """Seconds a customer waits for an agent before leaving: exponential."""
        return self.rng.expovariate(1.0 / self.config.patience_mean)
