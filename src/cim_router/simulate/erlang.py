"""Erlang C (M/M/n) and Erlang A (M/M/n+M) figures: the yardsticks the simulator is
validated against, and where `--staff-for` starts its search.

`load` is the offered load in erlangs (arrival rate times mean handle time); rates are
per second, times in seconds."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def erlang_b(agents: int, load: float) -> float:
    """Blocking probability of M/M/n/n, by the stable recursion."""
    b = 1.0
    for k in range(1, agents + 1):
        b = load * b / (k + load * b)
    return b


def erlang_c(agents: int, load: float) -> float:
    """P(wait > 0) in M/M/n with infinite patience; 1 when the load is not below n."""
    if load >= agents:
        return 1.0
    b = erlang_b(agents, load)
    rho = load / agents
    return b / (1.0 - rho + rho * b)


def erlang_c_asa(agents: int, load: float, handle_seconds: float) -> float:
    """Mean wait of every customer (the answered, waits of 0 included) in M/M/n."""
    if load >= agents:
        return math.inf
    return erlang_c(agents, load) * handle_seconds / (agents - load)


def erlang_c_service_level(agents: int, load: float, handle_seconds: float, target: float) -> float:
    """P(wait <= target) in M/M/n."""
    if load >= agents:
        return 0.0
    return 1.0 - erlang_c(agents, load) * math.exp(-(agents - load) * target / handle_seconds)


@dataclass(frozen=True)
class ErlangA:
    """Steady-state figures of M/M/n+M."""

    p_wait: float  # an arrival finds every agent busy
    abandonment: float  # an arrival leaves before being served
    mean_wait_seconds: float  # of every arrival, until served or gone
    mean_queue: float


def erlang_a(
    agents: int, arrival_rate: float, handle_seconds: float, patience_seconds: float
) -> ErlangA:
    """The birth-death chain of M/M/n+M, truncated far into the tail, solved in logs."""
    mu, theta = 1.0 / handle_seconds, 1.0 / patience_seconds
    # The chain's tail decays geometrically once deaths outpace births: stop where its
    # terms fall below e^-50 of the largest.
    log_rate = math.log(arrival_rate)
    terms = [0.0]
    top = 0.0
    k = 0
    while True:
        k += 1
        death = min(k, agents) * mu + max(k - agents, 0) * theta
        terms.append(terms[-1] + log_rate - math.log(death))
        top = max(top, terms[-1])
        if k > agents and death > arrival_rate and terms[-1] < top - 50.0:
            break
    logp = np.array(terms)
    p = np.exp(logp - logp.max())
    p /= p.sum()
    states = np.arange(len(terms))
    queue = np.maximum(states - agents, 0)
    mean_queue = float((p * queue).sum())
    abandon_rate = theta * mean_queue  # per second
    abandonment = abandon_rate / arrival_rate
    p_wait = float(p[agents:].sum())
    # Little's law over the queue: every arrival's wait, until served or gone.
    mean_wait = mean_queue / arrival_rate
    return ErlangA(p_wait, abandonment, mean_wait, mean_queue)


def agents_for(arrival_rate: float, handle_seconds: float, target: float, seconds: float) -> int:
    """The fewest agents for which Erlang C's service level (within `seconds`) reaches
    `target`."""
    load = arrival_rate * handle_seconds
    n = max(1, math.floor(load) + 1)
    while erlang_c_service_level(n, load, handle_seconds, seconds) < target:
        n += 1
    return n
