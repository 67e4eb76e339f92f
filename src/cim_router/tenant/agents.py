"""Agents of one tenant: create or update, presence, reads and removal."""

from __future__ import annotations

import bisect
from collections.abc import Awaitable, Callable

from cim_router.domain.agent import Agent, AgentState
from cim_router.domain.channel import Channel
from cim_router.tenant import idle, offers, overflow
from cim_router.tenant.errors import FailedPrecondition, InvalidArgument
from cim_router.tenant.records import AgentRecord, RequestKey, RequestOutcome
from cim_router.tenant.router import TenantRouter


def replay_agent(r: TenantRouter) -> Callable[[RequestOutcome], Awaitable[AgentRecord]]:
    """A retried call answers with the agent it acted on, as it is now."""

    async def replay(outcome: RequestOutcome) -> AgentRecord:
        return r.agent(outcome.entity).snapshot()

    return replay


def check_state_change(arec: AgentRecord, state: AgentState) -> None:
    agent = arec.agent
    if state == AgentState.WRAP_UP:
        raise InvalidArgument("state", "WRAP_UP is set by the router after Complete")
    if state == AgentState.OFFLINE and any(agent.load.values()):
        raise FailedPrecondition(
            f"agent {agent.id!r} holds or is offered interactions; complete or transfer "
            "them before going OFFLINE"
        )


def change_state(
    r: TenantRouter,
    arec: AgentRecord,
    state: AgentState,
    reason: str,
    since: float | None = None,
) -> None:
    """Move an agent to `state` (checked by `check_state_change`) and route it if it now
    has room. `since`: when an end of wrap-up fired by its timer made it AVAILABLE (a timer
    late after a restart still dates its idle time from the wrap-up's end)."""
    agent = r.put_agent(arec).agent
    if state == AgentState.AVAILABLE:
        idle.became_available(arec, r.clock() if since is None else since)
        arec.missed_offers = 0
        arec.wrap_up_until = 0.0
    agent.not_ready_reason = reason if state == AgentState.NOT_READY else ""
    agent.state = state
    r.index_agent(arec)
    offers.route_agent(r, agent.id)


def _check_capacity(old: Agent, capacity: dict[Channel, int]) -> None:
    """Capacity never drops below what the agent holds or is offered: no path may leave an
    agent over capacity. Lower it once the work is done."""
    for channel in Channel:
        held = old.load_of(channel)
        if capacity.get(channel, 0) < held:
            raise FailedPrecondition(
                f"capacity[{channel.name.lower()}]: agent {old.id!r} holds or is offered "
                f"{held} {channel.name.lower()} interaction(s); lower its capacity once "
                "they are done"
            )


async def upsert_agent(
    r: TenantRouter, agent: Agent, state: AgentState | None, request: RequestKey | None = None
) -> AgentRecord:
    """Create an agent (OFFLINE unless `state` says otherwise) or update its profile."""

    def apply() -> AgentRecord:
        for k, queue_id in enumerate(agent.routing_profile):
            if queue_id not in r.queues:
                raise InvalidArgument(f"routing_profile[{k}].queue_id", f"no queue {queue_id!r}")
        found = r.agents.get(agent.id)
        before = {} if found is None else found.agent.routing_profile
        if found is None:
            agent.idle_since = r.clock()
            arec = AgentRecord(agent)
        else:
            _check_capacity(found.agent, agent.capacity)
            arec = found.snapshot()  # the live record is replaced once all checks pass
            profile = arec.agent
            profile.display_name, profile.skills = agent.display_name, agent.skills
            profile.tier, profile.capacity = agent.tier, agent.capacity
            profile.routing_profile = agent.routing_profile
        if state is not None:
            check_state_change(arec, state)
        r.put_agent(arec)
        if set(before) != set(agent.routing_profile):
            r.index_agent(arec)
            for rec in list(r.open.values()):  # its delays' timers for waiting work
                if r.engine.is_waiting(rec.id):
                    offers.schedule_gates(r, rec)
        if state is not None:
            change_state(r, arec, state, "")
        else:
            r.index_agent(arec)
            offers.route_agent(r, agent.id)
        overflow.agents_changed(r)
        return arec.snapshot()

    return await r.mutate(apply, request, replay_agent(r), agent.id)


async def set_agent_state(
    r: TenantRouter,
    agent_id: str,
    state: AgentState,
    reason: str,
    request: RequestKey | None = None,
) -> AgentRecord:
    def apply() -> AgentRecord:
        arec = r.agent(agent_id)
        check_state_change(arec, state)
        change_state(r, arec, state, reason)
        if state == AgentState.OFFLINE:
            overflow.agents_changed(r)
        return arec.snapshot()

    return await r.mutate(apply, request, replay_agent(r), agent_id)


async def get_agent(r: TenantRouter, agent_id: str) -> AgentRecord:
    r.check_available()
    out = r.agent(agent_id).snapshot()
    await r.read()
    return out


async def list_agents(
    r: TenantRouter, state: AgentState | None, after: str = "", limit: int | None = None
) -> tuple[list[AgentRecord], bool]:
    """Up to `limit` agents in id order after the id `after` (in `state`, when given), and
    whether more follow."""
    r.check_available()
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
    await r.read()
    return out, more


async def remove_agent(r: TenantRouter, agent_id: str, request: RequestKey | None = None) -> None:
    def apply() -> None:
        arec = r.agent(agent_id)
        if any(arec.agent.load.values()):
            raise FailedPrecondition(f"agent {agent_id!r} holds or is offered interactions")
        r.remove_agent_record(agent_id)
        overflow.agents_changed(r)

    async def replay(outcome: RequestOutcome) -> None:
        return None

    await r.mutate(apply, request, replay, agent_id)
