"""Loading a tenant on simulated time: bad records set aside, the rest serving; a store
outage and its reload; joint matching of what waits at load."""

from __future__ import annotations

from cim_router.domain.agent import AgentState
from cim_router.domain.channel import Channel
from cim_router.domain.interaction import InteractionState, SkillRequirement
from cim_router.domain.policy import Policy
from cim_router.tenant.errors import Unavailable
from tests.tenant.harness import Harness, run

POLICY = Policy(relaxation=(), wrap_up_seconds=dict.fromkeys(Channel, 0.0))


def test_records_that_break_the_rules_are_quarantined_at_load() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await h.agent("ann", {"billing": 5}, state=AgentState.NOT_READY)
        await h.agent("bo", {"billing": 5}, state=AgentState.NOT_READY)
        await h.enqueue("good", required={"billing": 3})
        await h.enqueue("bad", required={"billing": 3})
        # Corrupt what the store holds, as another writer might.
        data = h.store.data("t")
        data.interactions["bad"].interaction.required = (SkillRequirement("billing", 11),)
        data.agents["bo"].agent.tier = 9
        again = await h.restart()
        router = again.router()
        assert sorted(router.quarantined) == ["agent:bo", "interaction:bad"]
        assert "bad" not in router.open and "bo" not in router.agents
        await again.set_state("ann", AgentState.AVAILABLE)
        assert again.get("good").offer.agent_id == "ann"  # type: ignore[union-attr]

    run(body)


def test_an_outage_stops_the_tenant_and_its_reload_brings_it_back() -> None:
    async def body() -> None:
        h = await Harness(POLICY).start()
        await h.agent("ann")
        h.store.go_down()
        try:
            await h.enqueue("c1")
        except Unavailable:
            pass
        else:
            raise AssertionError("an enqueue while the store is down must fail")
        assert not h.router().available
        h.store.come_back()
        for _ in range(10):
            await h.settle()
        assert h.router().available
        rec = await h.enqueue("c1")
        assert rec.offer is not None and rec.offer.agent_id == "ann"

    run(body)


def test_joint_matching_at_load_serves_every_waiting_interaction_it_can() -> None:
    async def body() -> None:
        policy = Policy(matching="joint", relaxation=())
        h = await Harness(policy).start()
        # Greedy would give the urgent one the versatile agent and leave the other waiting.
        await h.agent(
            "wide",
            {"billing": 10, "spanish": 10},
            state=AgentState.NOT_READY,
            capacity={Channel.CHAT: 1},
        )
        await h.agent(
            "narrow", {"billing": 1}, state=AgentState.NOT_READY, capacity={Channel.CHAT: 1}
        )
        await h.enqueue("urgent", required={"billing": 1}, priority=50)
        await h.enqueue("spanish", required={"spanish": 1})
        data = h.store.data("t")
        for agent_id in ("wide", "narrow"):
            data.agents[agent_id].agent.state = AgentState.AVAILABLE
        again = await h.restart()
        offered = {i: again.get(i).offer.agent_id for i in ("urgent", "spanish")}  # type: ignore[union-attr]
        assert offered == {"urgent": "narrow", "spanish": "wide"}
        assert again.get("urgent").interaction.state == InteractionState.OFFERED

    run(body)
