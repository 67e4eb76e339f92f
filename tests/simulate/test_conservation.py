"""Work conservation, checked at every simulated event: no interaction waits while an
agent the engine finds eligible for it is free, whatever the scenario throws at it."""

from __future__ import annotations

import asyncio

import pytest

from cim_router.domain.agent import Agent, AgentState
from cim_router.domain.channel import Channel
from cim_router.domain.interaction import Interaction, SkillRequirement
from cim_router.simulate.driver import TENANT, Day, WorkNotConserved, simulate_day
from cim_router.tenant import interactions
from tests.simulate.mixed import MIXED, POLICY


@pytest.mark.parametrize("random_choice", [False, True])
def test_no_interaction_waits_while_an_eligible_agent_is_free(random_choice: bool) -> None:
    day = asyncio.run(simulate_day(MIXED, POLICY, 3, 0, random_choice, check=True))
    assert day.interactions > 50
    assert day.checks > day.interactions  # every event time was looked at
    # The scenario did reach the paths that matter: offers rejected and left to expire
    # (then offered again), customers who left, interactions that waited.
    assert day.rejected > 0 and day.expired > 0
    assert day.measured.abandoned > 0
    assert sum(day.waited) > 0


def test_the_check_finds_a_free_agent_left_idle() -> None:
    async def body() -> None:
        day = Day(MIXED, POLICY, 3, 0, check=True)
        await day.start()
        await day.advance(600.0)
        # Work only a newcomer can take waits; the newcomer is slipped into the routing
        # index behind the router's back, so nothing offers it the work.
        rare = Interaction("rare", Channel.CHAT, required=(SkillRequirement("rare", 1),))
        async with day.tenants.use(TENANT) as r:
            await interactions.enqueue(r, rare, b"")
            day.check_conservation()  # nobody can take it: no fault
            stray = Agent("stray", skills={"rare": 1}, capacity={c: 3 for c in Channel})
            stray.state = AgentState.AVAILABLE
            r.engine.upsert_agent(stray, r.gates_of({}))
            with pytest.raises(WorkNotConserved, match="rare"):
                day.check_conservation()
        await day.tenants.stop()

    asyncio.run(body())
