"""Agents of one tenant: create or update, presence, reads and removal, on its
`TenantRouter`."""

from __future__ import annotations

import bisect

from cim_router.domain.agent import Agent, AgentState
from cim_router.service.errors import FailedPrecondition
from cim_router.service.lifecycle import TenantRouter
from cim_router.service.records import AgentRecord, Transition


async def upsert_agent(r: TenantRouter, agent: Agent, state: AgentState | None) -> AgentRecord:
    """Create an agent (OFFLINE unless `state` says otherwise) or update its profile."""
    async with r.lock:
        r._check_available()
        now = r.clock()
        arec = r.agents.get(agent.id)
        if arec is None:
            agent.idle_since = now
            arec = AgentRecord(agent)
        else:
            arec = arec.snapshot()  # the live record changes only once all checks pass
            old = arec.agent
            old.display_name, old.skills, old.tier = (
                agent.display_name,
                agent.skills,
                agent.tier,
            )
            old.capacity = agent.capacity
        if state is not None:
            r._set_state(arec, state, "", now)
        r._submit(Transition(agents=[arec]))
        r._index_agent(arec)
        r._route_agent(agent.id)
        out = arec.snapshot()
    await r._durable()
    return out


async def set_agent_state(
    r: TenantRouter, agent_id: str, state: AgentState, reason: str
) -> AgentRecord:
    async with r.lock:
        r._check_available()
        arec = r._agent(agent_id).snapshot()
        r._set_state(arec, state, reason, r.clock())
        r._submit(Transition(agents=[arec]))
        r._index_agent(arec)
        r._route_agent(agent_id)
        out = arec.snapshot()
    await r._durable()
    return out


async def get_agent(r: TenantRouter, agent_id: str) -> AgentRecord:
    r._check_available()
    out = r._agent(agent_id).snapshot()
    await r._durable()
    return out


async def list_agents(
    r: TenantRouter, state: AgentState | None, after: str = "", limit: int | None = None
) -> tuple[list[AgentRecord], bool]:
    """Up to `limit` agents in id order after the id `after` (in `state`, when given), and
    whether more follow."""
    r._check_available()
    ids = sorted(r.agents)
    out: list[AgentRecord] = []
    more = False
    for agent_id in ids[bisect.bisect_right(ids, after) :]:
        a = r.agents[agent_id]
        if state is not None and a.agent.state != state:
            continue
        if len(out) == limit:
            more = True
            break
        out.append(a.snapshot())
    await r._durable()
    return out, more


async def remove_agent(r: TenantRouter, agent_id: str) -> None:
    async with r.lock:
        r._check_available()
        arec = r._agent(agent_id)
        if any(arec.agent.load.values()):
            raise FailedPrecondition(f"agent {agent_id!r} holds or is offered interactions")
        r._submit(Transition(removed_agents=[agent_id]))
        r.engine.remove_agent(agent_id)
        r._unstaff(agent_id)
    await r._durable()
