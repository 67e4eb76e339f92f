"""Routing steps of one tenant, inside a unit of work: what waits is indexed, offered to
the best eligible agent, and comes back to the queue when an offer ends.

Decisions are the routing engine's; this module turns them into reservations (offers with
a timeout), exclusions that lapse, and relaxation timers.
"""

from __future__ import annotations

import dataclasses

from cim_router.domain.agent import AgentState
from cim_router.domain.channel import Channel
from cim_router.domain.interaction import Interaction, InteractionState
from cim_router.domain.policy import Policy
from cim_router.routing.explain import Explanation
from cim_router.tenant import idle
from cim_router.tenant.records import AgentRecord, EventType, InteractionRecord, Offer
from cim_router.tenant.router import DEFAULT_TARGET, TenantRouter
from cim_router.tenant.timers import Due
from cim_router.tenant.watch import NoticeType


def add_load(arec: AgentRecord, channel: Channel, delta: int) -> None:
    arec.agent.load = {**arec.agent.load, channel: max(0, arec.agent.load_of(channel) + delta)}


def free_agent(r: TenantRouter, arec: AgentRecord, channel: Channel) -> None:
    """The agent is done with work it held: one seat back, and its idle time starts again,
    so that longest-idle fairness sees the work it just did."""
    r.put_agent(arec)
    add_load(arec, channel, -1)
    idle.finished_work(arec, r.clock())


# --- the waiting index ----------------------------------------------------------------------


def routing_view(rec: InteractionRecord) -> Interaction:
    """The interaction as routing sees it: a pending transfer's channel and skills, and
    never back to the agent it is being transferred away from."""
    i = rec.interaction
    if rec.transfer is None:
        return i
    excluded = i.excluded_agents | {rec.agent_id} if rec.agent_id else i.excluded_agents
    return dataclasses.replace(
        i, channel=rec.transfer.channel, required=rec.transfer.required, excluded_agents=excluded
    )


def next_relaxation(policy: Policy, enqueued_at: float, now: float) -> float | None:
    """When the next relaxation step after `now` starts for an interaction."""
    for step in policy.relaxation:
        if enqueued_at + step.after_seconds > now:
            return enqueued_at + step.after_seconds
    return None


def index_interaction(r: TenantRouter, rec: InteractionRecord, arrival: bool = False) -> None:
    """Put a waiting interaction (or a pending transfer) in the routing index, and have
    the next relaxation step re-route it: relaxation makes agents eligible with time.
    `arrival`: it enters routing for the first time (the demand the scarcity term reads)."""
    view = routing_view(rec)
    queue = r.queues.get(view.queue_id)
    share = (queue.service_level if queue is not None else DEFAULT_TARGET).share
    seconds = r.queue_clock(view.queue_id, view.channel).sla_seconds
    r.engine.enqueue(view, view.queue_id, target=(seconds, share), arrival=arrival)
    schedule_gates(r, rec)
    due = next_relaxation(r.policy, rec.interaction.enqueued_at, r.clock())
    if due is not None:
        r.at(due, Due.RELAX, rec.id)


def schedule_gates(r: TenantRouter, rec: InteractionRecord) -> None:
    """When a routing profile's delay for `rec`'s queue runs out for some agent, route
    `rec` again (the core holds the agent back until then: QUEUE_DELAY)."""
    i = rec.interaction
    now = r.clock()
    for due in r.gate_delays(i.queue_id):
        if i.enqueued_at + due > now:
            r.at(i.enqueued_at + due, Due.GATE, rec.id)


def open_gate(r: TenantRouter, rec: InteractionRecord) -> None:
    """A profile's delay for `rec`'s queue has passed: offer it to whoever it now allows."""
    if r.engine.is_waiting(rec.id):
        route_interaction(r, rec)


def relax(r: TenantRouter, rec: InteractionRecord) -> None:
    """A relaxation step of `rec` has started: offer it to whoever it now allows."""
    if r.engine.is_waiting(rec.id):
        route_interaction(r, rec)
        due = next_relaxation(r.policy, rec.interaction.enqueued_at, r.clock())
        if due is not None and r.engine.is_waiting(rec.id):
            r.at(due, Due.RELAX, rec.id)


# --- offers ---------------------------------------------------------------------------------


def offer(
    r: TenantRouter, rec: InteractionRecord, agent_id: str, explanation: Explanation | None
) -> None:
    """Reserve `agent_id` for `rec` until the offer timeout, and tell its watchers."""
    now = r.clock()
    arec = r.put_agent(r.agent(agent_id))
    r.put(rec)
    channel = rec.transfer.channel if rec.transfer else rec.interaction.channel
    add_load(arec, channel, 1)
    expires = now + r.policy.offer_timeout_seconds
    rec.offer = Offer(agent_id, channel, now, expires, transfer=rec.transfer is not None)
    if rec.transfer is None:
        rec.interaction.state = InteractionState.OFFERED
    if explanation is not None:
        rec.explanation = explanation
    r.event(rec, EventType.OFFERED, agent_id, channel=channel)
    r.count("offered")
    r.index_agent(arec)
    r.at(expires, Due.OFFER, rec.id)
    r.notify(NoticeType.OFFERED, agent_id, rec)


def route_interaction(r: TenantRouter, rec: InteractionRecord) -> None:
    """Offer a waiting interaction to its best eligible agent, if one is free; under joint
    matching, with others waiting and several agents free, match them all together."""
    if r.engine.joint_due():
        match_all(r)
        return
    decision = r.engine.route_arrival(rec.id, r.clock())
    if decision is not None:
        offer(r, rec, decision.agent_id, decision.explanation)


def route_agent(r: TenantRouter, agent_id: str) -> None:
    """Offer an agent with room the best waiting interactions it may take (under joint
    matching, with others free too, match every waiting interaction together)."""
    if r.engine.joint_due():
        match_all(r)
        return
    while (decision := r.engine.route_freed(agent_id, r.clock())) is not None:
        offer(r, r.open[decision.interaction_id], agent_id, decision.explanation)


def match_all(r: TenantRouter) -> None:
    """Offer every waiting interaction that has an eligible free agent (after a load)."""
    for decision in r.engine.match_waiting(r.clock()):
        offer(r, r.open[decision.interaction_id], decision.agent_id, decision.explanation)


def withdraw_offer(r: TenantRouter, rec: InteractionRecord) -> str:
    """Take back an open offer on `rec` (no exclusion, no missed offer); returns the agent
    it released, or "" if there was none. The caller re-indexes and notifies."""
    if rec.offer is None:
        return ""
    target = r.put_agent(r.agent(rec.offer.agent_id))
    r.put(rec)
    add_load(target, rec.offer.channel, -1)
    r.event(rec, EventType.OFFER_WITHDRAWN, target.agent.id)
    rec.offer = None
    r.index_agent(target)
    return target.agent.id


def end_offer(r: TenantRouter, rec: InteractionRecord, type: EventType, reason: str = "") -> None:
    """Close the offer on `rec`: back to the queue at its place, or the warm transfer
    fails; the agent is excluded for a while unless the router withdrew the offer."""
    offer_ = rec.offer
    assert offer_ is not None
    arec = r.put_agent(r.agent(offer_.agent_id))
    r.put(rec)
    agent = arec.agent
    add_load(arec, offer_.channel, -1)
    if type != EventType.OFFER_WITHDRAWN:
        idle.declined(arec, r.clock())
    if type == EventType.OFFER_EXPIRED:
        arec.missed_offers += 1
        if arec.missed_offers >= r.policy.max_missed_offers and agent.state in (
            AgentState.AVAILABLE,
            AgentState.WRAP_UP,
        ):
            agent.state = AgentState.NOT_READY
            agent.not_ready_reason = f"missed {arec.missed_offers} offers in a row"
    elif type == EventType.REJECTED:
        arec.missed_offers = 0
    if type != EventType.OFFER_WITHDRAWN:
        exclude(r, rec, agent.id)
    rec.offer = None
    r.event(rec, type, agent.id, reason, channel=offer_.channel)
    requeue = True
    if rec.transfer is None:
        rec.interaction.state = InteractionState.QUEUED
        r.event(rec, EventType.REQUEUED)
    elif rec.transfer.target_agent:
        rec.transfer = None
        r.event(rec, EventType.TRANSFER_FAILED, agent.id, reason)
        requeue = False
    r.index_agent(arec)
    if requeue:
        index_interaction(r, rec)
    r.notify(NoticeType.OFFER_ENDED, agent.id, rec)
    if requeue and type != EventType.OFFER_WITHDRAWN:
        route_interaction(r, rec)
    if requeue and rec.transfer is None:
        queue = r.queues.get(rec.interaction.queue_id)
        if queue is not None and (queue.overflow or queue.max_wait_seconds > 0):
            r.at(r.clock(), Due.RULES, rec.id)  # back in the queue: its rules, at once
    route_agent(r, agent.id)


# --- exclusions -----------------------------------------------------------------------------


def exclude(r: TenantRouter, rec: InteractionRecord, agent_id: str) -> None:
    """Keep `agent_id` away from `rec` for the policy's exclusion time (after a reject, a
    missed offer or a transfer away); the caller re-indexes `rec`."""
    until = r.clock() + r.policy.exclusion_seconds
    i = rec.interaction
    i.excluded_agents = i.excluded_agents | {agent_id}
    rec.exclusions = {**rec.exclusions, agent_id: until}
    r.at(until, Due.LAPSE, rec.id)


def lapse_exclusions(r: TenantRouter, rec: InteractionRecord) -> None:
    """Exclusions that have run out end: the agents may be offered `rec` again."""
    now = r.clock()
    lapsed = sorted(a for a, until in rec.exclusions.items() if until <= now)
    if not lapsed:
        return
    r.put(rec)
    i = rec.interaction
    i.excluded_agents = i.excluded_agents - set(lapsed)
    rec.exclusions = {a: u for a, u in rec.exclusions.items() if a not in lapsed}
    for agent_id in lapsed:
        r.event(rec, EventType.EXCLUSION_LAPSED, agent_id)
    if r.engine.is_waiting(rec.id):
        r.engine.remove(rec.id)
        index_interaction(r, rec)
        route_interaction(r, rec)
