"""The baselines a policy is compared with: what Asterisk and FreeSWITCH queues do.

- `longest-idle`: a `Policy`, no code of its own. Every score weight is 0 but idle time's
  (with the idle cap out of reach, so that idle time never saturates), aging, the queue
  boost, on-time-first and the wait bound are off and there is no relaxation: the core
  then offers an arrival to the eligible agent idle the longest (its tie-break is longest idle, then
  agent id), and a freed agent takes the
  waiting interaction first in service order, which with equal priorities and no aging
  is enqueue time: FIFO.
- `random`: the same policy, but the agent is drawn uniformly among those the core finds
  eligible (`RandomChoice`, below): no weights can express a random choice.

Both keep everything else of the reference policy (the first `--policy`, or the
defaults): wrap-up, offer timeout, service-level targets, queues and rules.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from cim_router._core_common import ELIGIBLE
from cim_router.domain.channel import Channel
from cim_router.domain.policy import Policy, Weights

BASELINES = ("longest-idle", "random")
IDLE_CAP_SECONDS = 1e9


def longest_idle(policy: Policy) -> Policy:
    """`policy` with longest-idle agent choice and FIFO queues."""
    weights = Weights(
        skill=0.0,
        preferred_skill=0.0,
        tier=0.0,
        idle=1.0,
        handle_time=0.0,
        sticky=0.0,
        urgency=0.0,
        scarcity=0.0,
    )
    return dataclasses.replace(
        policy,
        matching="greedy",
        weights=weights,
        idle_cap_seconds=IDLE_CAP_SECONDS,
        aging_rate=0.0,
        relaxation=(),
        service_level_weight=0.0,
        wait_bound_seconds={c: 0.0 for c in Channel},
        on_time_first=False,
    )


class RandomChoice:
    """The routing core with its agent choice replaced by a uniform draw among the agents
    the core finds eligible (the `--baseline random` chooser); everything else, queue
    order included, is the core's. The engine cannot express it: with every weight at 0 it
    breaks ties by longest idle, then agent id."""

    def __init__(self, core: Any, rng: np.random.Generator) -> None:
        self._core = core
        self._rng = rng

    def __getattr__(self, name: str) -> Any:
        return getattr(self._core, name)

    def best_agent(self, interaction_id: str, now: float) -> str | None:
        core = self._core
        found = [
            a for a in core.agent_ids() if core.eligibility(interaction_id, a, now) == ELIGIBLE
        ]
        return found[int(self._rng.integers(len(found)))] if found else None
