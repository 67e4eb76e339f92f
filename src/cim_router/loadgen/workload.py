"""The simulated contact centre: agents, interactions and their random times, all drawn
from one seeded generator so that a run can be repeated."""

from __future__ import annotations

import math
import random
import secrets
from dataclasses import dataclass

from cim_router.client.names import ChannelLike
from cim_router.domain.channel import DEFAULT_CAPACITY, Channel
from cim_router.loadgen.config import LoadConfig


@dataclass(frozen=True)
class AgentSpec:
    id: str
    skills: dict[str, int]
    capacity: dict[ChannelLike, int]  # per channel of the mix; 0 for every other channel
    tier: int


@dataclass(frozen=True)
class InteractionSpec:
    id: str
    customer_id: str
    channel: str
    skill: str
    min_level: int


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
        rng = self.rng
        return InteractionSpec(
            f"lg-{self.run_id}-{n}",
            f"cust-{self.run_id}-{n}",
            rng.choices(self._channels, self._weights)[0],
            skill_name(rng.randrange(self.config.skills)),
            rng.randint(1, 5),
        )

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
