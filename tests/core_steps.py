"""Generated call sequences for the core equivalence tests: each step is one call, made on
the compiled core and its twin at the same time."""

from __future__ import annotations

import random
from dataclasses import dataclass

from hypothesis import strategies as st

from cim_router._core_common import N_CHANNELS, STATE_AVAILABLE
from cim_router.domain import Channel

AGENTS = [f"a{k}" for k in range(7)]
INTERACTIONS = [f"i{k}" for k in range(7)]
N_SKILLS = 5


@dataclass(frozen=True)
class Step:
    """One call, made on both cores at the time `now`."""

    now: float
    method: str
    args: tuple[object, ...]


N_GATES = 3
# Delays and time steps share a grid, so times land on and either side of enqueued_at + delay.
DELAYS = [0.0, 5.0, 10.0, 30.0]


def gate_lists() -> st.SearchStrategy[list[tuple[int, int, float]]]:
    return st.lists(
        st.tuples(st.integers(0, N_GATES - 1), st.integers(1, 4), st.sampled_from(DELAYS)),
        max_size=N_GATES,
        unique_by=lambda t: t[0],
    )


def skill_lists(max_size: int) -> st.SearchStrategy[list[tuple[int, int]]]:
    return st.lists(
        st.tuples(st.integers(0, N_SKILLS - 1), st.integers(1, 10)),
        max_size=max_size,
        unique_by=lambda t: t[0],
    )


@st.composite
def scenarios(draw: st.DrawFn) -> list[Step]:
    now = 1_000.0
    steps: list[Step] = []
    agents = st.sampled_from(AGENTS)
    interactions = st.sampled_from(INTERACTIONS)
    channels = st.integers(0, N_CHANNELS - 1)
    for _ in range(draw(st.integers(1, 40))):
        kind = draw(
            st.sampled_from(
                [
                    "advance",
                    "advance",
                    "upsert_agent",
                    "upsert_agent",
                    "upsert_agent",
                    "add_interaction",
                    "add_interaction",
                    "add_interaction",
                    "remove_agent",
                    "remove_interaction",
                    "set_agent_state",
                    "set_agent_load",
                    "set_handle_time",
                    "exclude_agent",
                    "reserve",
                    "count_arrival",
                    "count_outcome",
                    "count_outcome",
                    "set_gate_target",
                ]
            )
        )
        args: tuple[object, ...]
        if kind == "advance":
            now += draw(st.integers(0, 45))
            args = ()
        elif kind == "upsert_agent":
            caps = draw(st.lists(st.integers(0, 3), min_size=N_CHANNELS, max_size=N_CHANNELS))
            load = draw(st.lists(st.integers(0, 3), min_size=N_CHANNELS, max_size=N_CHANNELS))
            args = (
                draw(agents),
                draw(st.integers(1, 5)),
                draw(skill_lists(4)),
                caps,
                draw(st.sampled_from([STATE_AVAILABLE, STATE_AVAILABLE, 0, 2])),
                load,
                now - draw(st.integers(-10, 900)),
                draw(gate_lists()),
            )
            if draw(st.integers(0, 30)) == 0:  # a bad gate: both cores refuse it alike
                args = (*args[:-1], [(0, draw(st.sampled_from([0, 256])), -1.0)])
        elif kind == "add_interaction":
            args = (
                draw(interactions),
                draw(channels),
                draw(skill_lists(3)),
                draw(skill_lists(2)),
                float(draw(st.integers(0, 100))),
                draw(st.sampled_from([0.0, 10.0, 20.0])),
                draw(st.integers(1, 5)),
                draw(st.integers(0, 3)),
                draw(st.sampled_from([20.0, 60.0, 300.0])),
                now - draw(st.integers(-5, 150)),
                draw(st.sampled_from(["", "", *AGENTS])),
                draw(st.lists(agents, max_size=2)),
                draw(st.sampled_from([-1, -1, *range(N_GATES)])),
            )
        elif kind == "remove_agent":
            args = (draw(agents),)
        elif kind == "remove_interaction":
            args = (draw(interactions),)
        elif kind == "set_agent_state":
            args = (
                draw(agents),
                draw(st.sampled_from([STATE_AVAILABLE, 0, 2, 3])),
                now - draw(st.integers(0, 900)),
            )
        elif kind == "set_agent_load":
            args = (draw(agents), draw(channels), draw(st.integers(0, 3)))
        elif kind == "set_handle_time":
            args = (
                draw(agents),
                draw(channels),
                draw(st.integers(-1, N_SKILLS - 1)),
                float(draw(st.integers(1, 1500))),
            )
        elif kind in ("count_arrival", "count_outcome", "set_gate_target"):
            args = demand_call(draw, kind, now)
        else:  # exclude_agent, reserve
            args = (draw(interactions), draw(agents))
        steps.append(Step(now, kind, args))
    return steps


def demand_call(draw: st.DrawFn, kind: str, now: float) -> tuple[object, ...]:
    """Arguments of the calls that feed the scarcity term and the queue boost (a bad gate or
    share now and then: both cores refuse it alike)."""
    if kind == "count_arrival":
        return (draw(st.sampled_from(INTERACTIONS)), now - draw(st.integers(-5, 100)))
    if kind == "count_outcome":
        return (draw(st.sampled_from(INTERACTIONS)), now, draw(st.booleans()))
    return (
        draw(st.sampled_from([*range(N_GATES), *range(N_GATES), -1])),
        draw(st.sampled_from([0.0, 0.5, 0.8, 0.8, 1.0, 1.5])),
    )


@st.composite
def gated_scenarios(draw: st.DrawFn) -> list[Step]:
    """Agents that are free and skilled, work on one channel: what decides is the gates,
    their ranks, and time passing their delays."""
    now = 1_000.0
    steps: list[Step] = []
    agents = st.sampled_from(AGENTS)
    interactions = st.sampled_from(INTERACTIONS)
    kinds = ["advance", "upsert_agent", "add_interaction", "add_interaction", "remove_agent"]
    kinds += ["remove_interaction", "reserve", "exclude_agent"]
    kinds += ["count_outcome", "count_outcome", "set_gate_target"]
    for _ in range(draw(st.integers(1, 30))):
        kind = draw(st.sampled_from(kinds))
        args: tuple[object, ...]
        if kind == "advance":
            now += draw(st.sampled_from([0.0, 1.0, 5.0, 10.0]))
            args = ()
        elif kind == "upsert_agent":
            args = (
                draw(agents),
                draw(st.integers(1, 5)),
                [(0, draw(st.integers(3, 10)))],
                [1, 1, 3, 3, 3, 5],
                STATE_AVAILABLE,
                [0] * N_CHANNELS,
                now - draw(st.integers(0, 60)),
                draw(gate_lists()),
            )
        elif kind == "add_interaction":
            args = (
                draw(interactions),
                int(Channel.CHAT),
                [(0, draw(st.integers(1, 3)))],
                [],
                float(draw(st.sampled_from([0, 10, 50]))),
                0.0,
                1,
                0,
                60.0,
                now - draw(st.sampled_from([0.0, 5.0, 10.0, 30.0])),
                "",
                (),
                draw(st.sampled_from([-1, *range(N_GATES)])),
            )
        elif kind == "remove_agent":
            args = (draw(agents),)
        elif kind == "remove_interaction":
            args = (draw(interactions),)
        elif kind in ("count_arrival", "count_outcome", "set_gate_target"):
            args = demand_call(draw, kind, now)
        else:  # reserve, exclude_agent
            args = (draw(interactions), draw(agents))
        steps.append(Step(now, kind, args))
    return steps


def random_call(
    rng: random.Random, agent: str, interaction: str, agents: list[str], now: float
) -> tuple[str, tuple[object, ...]]:
    roll = rng.random()
    if roll < 0.3:
        skills = [(s, rng.randint(1, 10)) for s in rng.sample(range(25), rng.randint(0, 4))]
        load = [0, 0, rng.randint(0, 3), 0, 0, rng.randint(0, 1)]
        return "upsert_agent", (
            agent,
            rng.randint(1, 5),
            skills,
            [1, 1, 3, 3, 3, 5],
            rng.choice([1, 1, 1, 2, 0]),
            load,
            now - rng.randint(0, 900),
            [
                (g, rng.randint(1, 3), rng.choice(DELAYS))
                for g in rng.sample(range(4), rng.randint(0, 3))
            ],
        )
    if roll < 0.65:
        required = [(s, rng.randint(1, 10)) for s in rng.sample(range(25), rng.randint(0, 3))]
        preferred = [(s, 1) for s in rng.sample(range(25), rng.randint(0, 2))]
        return "add_interaction", (
            interaction,
            rng.randrange(N_CHANNELS),
            required,
            preferred,
            float(rng.randint(0, 100)),
            rng.choice([0.0, 10.0, 20.0]),
            rng.randint(1, 5),
            rng.randint(0, 3),
            rng.choice([20.0, 60.0, 300.0]),
            now - rng.randint(-5, 200),
            rng.choice(["", agent]),
            rng.sample(agents, rng.randint(0, 2)),
            rng.choice([-1, -1, 0, 1, 2, 3]),
        )
    if roll < 0.75:
        return "remove_interaction", (interaction,)
    if roll < 0.8:
        return "remove_agent", (agent,)
    if roll < 0.85:
        return "reserve", (interaction, agent)
    if roll < 0.9:
        return "set_agent_state", (agent, rng.choice([0, 1, 1, 2]), now - rng.randint(0, 500))
    if roll < 0.93:
        return "set_agent_load", (agent, rng.randrange(N_CHANNELS), rng.randint(0, 2))
    if roll < 0.95:
        return "count_arrival", (interaction, now - rng.randint(0, 100))
    if roll < 0.97:
        return "count_outcome", (interaction, now, rng.random() < 0.5)
    if roll < 0.98:
        return "set_gate_target", (rng.randint(0, 3), rng.choice([0.0, 0.8, 0.9]))
    return "exclude_agent", (interaction, agent)
