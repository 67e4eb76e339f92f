"""One tenant's interaction lifecycle: enqueue, offer, accept, transfer, complete, timers.

A `TenantRouter` owns the tenant's routing index (an `Engine`) and writes every change to
the store before it answers. Its public coroutines take the tenant lock, so each decision
and its reservations happen as one step; the helpers beginning with `_` expect the lock held.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from cim_router.domain.agent import Agent, AgentState
from cim_router.domain.channel import Channel
from cim_router.domain.interaction import (
    MAX_ESCALATION_LEVEL,
    Interaction,
    InteractionState,
    SkillRequirement,
)
from cim_router.domain.limits import MAX_CONTEXT_BYTES
from cim_router.domain.policy import Policy
from cim_router.routing.engine import Engine
from cim_router.routing.explain import TERM_NAMES, Candidate, Explanation
from cim_router.service.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from cim_router.service.records import (
    AgentRecord,
    CustomerRecord,
    Event,
    EventType,
    InteractionRecord,
    Offer,
    PendingTransfer,
    TransferMode,
    Transition,
)
from cim_router.service.state import StateStore
from cim_router.service.watch import Hub, NoticeType

if TYPE_CHECKING:
    from cim_router.observability.metrics import Observer

Clock = Callable[[], float]

# Up to this many agents a decision records the full explanation (a scan over all agents);
# above it, only the winner's score terms, so that decisions stay cheap at scale.
EXPLAIN_SCAN_LIMIT = 256
LINK_DEPTH = 16  # how far GetInteraction follows a customer's earlier interactions
OPEN = (InteractionState.QUEUED, InteractionState.OFFERED, InteractionState.ASSIGNED)


def context_size(context: Mapping[str, Any]) -> int:
    return len(json.dumps(context, separators=(",", ":")).encode())


def check_context(context: Mapping[str, Any], field: str = "context") -> None:
    if context_size(context) > MAX_CONTEXT_BYTES:
        raise InvalidArgument(field, f"must be at most {MAX_CONTEXT_BYTES} bytes as JSON")


class TenantRouter:
    """Routing and lifecycle for one tenant."""

    def __init__(self, tenant: str, store: StateStore, policy: Policy, clock: Clock) -> None:
        self.tenant = tenant
        self.store = store
        self.policy = policy
        self.clock = clock
        self.engine = Engine(policy)
        self.lock = asyncio.Lock()
        self.hub = Hub()
        # (due, seq, kind, key): "offer" / "wrap" keyed by interaction, "agent_wrap" by agent.
        self._timers: list[tuple[float, int, str, str]] = []
        self._seq = 0
        # Capacity of agents that are not OFFLINE, for the wait estimate.
        self._staffed: dict[str, dict[Channel, int]] = {}
        self.observer: Observer | None = None  # told of every write and decision

    # --- start ----------------------------------------------------------------------------

    async def load(self) -> None:
        """Rebuild the index and timers from the store."""
        async with self.lock:
            for arec in await self.store.list_agents(self.tenant):
                self._index_agent(arec)
                if arec.agent.state == AgentState.WRAP_UP:
                    self._at(arec.wrap_up_until, "agent_wrap", arec.agent.id)
            states = (*OPEN, InteractionState.WRAP_UP)
            for rec in await self.store.list_interactions(self.tenant, states):
                if rec.offer is not None:
                    self._at(rec.offer.expires_at, "offer", rec.id)
                elif rec.interaction.state == InteractionState.QUEUED or rec.transfer:
                    self._index_interaction(rec)
                if rec.interaction.state == InteractionState.WRAP_UP:
                    self._at(rec.wrap_up_until, "wrap", rec.id)

    # --- small helpers --------------------------------------------------------------------

    async def _apply(self, t: Transition) -> None:
        try:
            await self.store.apply(self.tenant, t)
        except (ConnectionError, OSError, TimeoutError) as exc:
            raise Unavailable(f"store unavailable: {exc}") from exc
        if self.observer is not None:
            self.observer.transition(self.tenant, t, self.clock())

    def _decide(
        self, decide: Callable[[str, float], str | None], key: str, now: float
    ) -> str | None:
        """One routing decision (`engine.best_agent` or `best_interaction`), timed."""
        if self.observer is None:
            return decide(key, now)
        start = time.perf_counter()
        found = decide(key, now)
        self.observer.decision(time.perf_counter() - start)
        return found

    async def _agent(self, agent_id: str) -> AgentRecord:
        found = await self.store.get_agent(self.tenant, agent_id)
        if found is None:
            raise NotFound(f"agent {agent_id!r} not found")
        return found

    async def _interaction(self, interaction_id: str) -> InteractionRecord:
        found = await self.store.get_interaction(self.tenant, interaction_id)
        if found is None:
            raise NotFound(f"interaction {interaction_id!r} not found")
        return found

    def _at(self, due: float, kind: str, key: str) -> None:
        self._seq += 1
        heapq.heappush(self._timers, (due, self._seq, kind, key))

    def _index_agent(self, arec: AgentRecord) -> None:
        agent = arec.agent
        self.engine.upsert_agent(agent)
        if agent.state == AgentState.OFFLINE:
            self._staffed.pop(agent.id, None)
        else:
            self._staffed[agent.id] = dict(agent.capacity)

    def _routing_view(self, rec: InteractionRecord) -> Interaction:
        """The interaction as routing sees it: a pending transfer's channel and skills, and
        never back to the agent it is being transferred away from."""
        i = rec.interaction
        if rec.transfer is None:
            return i
        excluded = i.excluded_agents | {rec.agent_id} if rec.agent_id else i.excluded_agents
        return dataclasses.replace(
            i,
            channel=rec.transfer.channel,
            required=rec.transfer.required,
            excluded_agents=excluded,
        )

    def _index_interaction(self, rec: InteractionRecord) -> None:
        self.engine.enqueue(self._routing_view(rec))

    def _event(
        self, rec: InteractionRecord, type: EventType, agent_id: str = "", reason: str = ""
    ) -> Event:
        return Event(self.clock(), type, rec.id, rec.interaction.channel, agent_id, reason)

    @staticmethod
    def _add_load(arec: AgentRecord, channel: Channel, delta: int) -> None:
        arec.agent.load[channel] = max(0, arec.agent.load.get(channel, 0) + delta)

    def _capture(self, interaction_id: str, agent_id: str, now: float) -> Explanation:
        """Why `agent_id` was chosen, recorded before the reservation changes the index."""
        core = self.engine.core
        if core.agent_count() <= EXPLAIN_SCAN_LIMIT:
            return self.engine.explain(interaction_id, now)
        terms = core.score_terms(interaction_id, agent_id, now)
        return Explanation(
            interaction_id=interaction_id,
            at=now,
            relaxation_step=core.relaxation_step(interaction_id, now),
            urgency=core.urgency(interaction_id, now),
            agents_considered=core.agent_count(),
            eligible=0,
            winner=Candidate(agent_id, terms[-1], dict(zip(TERM_NAMES, terms[:-1], strict=True))),
        )

    # --- offers ---------------------------------------------------------------------------

    async def _offer(
        self,
        rec: InteractionRecord,
        agent_id: str,
        explanation: Explanation | None,
        extra: Transition | None = None,
    ) -> None:
        """Reserve `agent_id` for `rec` until the offer timeout, and tell its watchers."""
        now = self.clock()
        arec = await self._agent(agent_id)
        channel = rec.transfer.channel if rec.transfer else rec.interaction.channel
        self._add_load(arec, channel, 1)
        expires = now + self.policy.offer_timeout_seconds
        rec.offer = Offer(agent_id, channel, now, expires, transfer=rec.transfer is not None)
        if rec.transfer is None:
            rec.interaction.state = InteractionState.OFFERED
        if explanation is not None:
            rec.explanation = explanation
        t = extra or Transition()
        t.interactions.append(rec)
        t.agents.append(arec)
        t.events.append(Event(now, EventType.OFFERED, rec.id, channel, agent_id))
        t.count("offered")
        try:
            await self._apply(t)
        except Exception:
            self._index_interaction(dataclasses.replace(rec, offer=None))
            self._add_load(arec, channel, -1)
            self._index_agent(arec)
            raise
        self._index_agent(arec)
        self._at(expires, "offer", rec.id)
        self.hub.publish(NoticeType.OFFERED, agent_id, rec, now)

    async def _route_interaction(self, rec: InteractionRecord) -> None:
        """Offer a waiting interaction to its best eligible agent, if one is free."""
        now = self.clock()
        if not self.engine.core.is_waiting(rec.id):
            return
        best = self._decide(self.engine.best_agent, rec.id, now)
        if best is None:
            return
        explanation = self._capture(rec.id, best, now)
        self.engine.core.reserve(rec.id, best)
        await self._offer(rec, best, explanation)

    async def _route_agent(self, agent_id: str) -> None:
        """Offer an agent with room the best waiting interactions it may take."""
        core = self.engine.core
        while core.has_agent(agent_id) and core.waiting_count():
            now = self.clock()
            best = self._decide(self.engine.best_interaction, agent_id, now)
            if best is None:
                return
            rec = await self._interaction(best)
            explanation = self._capture(best, agent_id, now)
            core.reserve(best, agent_id)
            await self._offer(rec, agent_id, explanation)

    async def _match_all(self) -> None:
        """Offer every waiting interaction that has an eligible free agent, in queue order.

        Needed beyond arrivals and freed agents because relaxation steps make agents
        eligible with time alone."""
        core = self.engine.core
        if not core.waiting_count():
            return
        now = self.clock()
        if self.policy.matching == "joint":
            for iid, agent_id in self.engine.match_waiting(now):
                await self._offer(await self._interaction(iid), agent_id, None)
            return
        for iid in core.queue_order(now):
            best = self._decide(self.engine.best_agent, iid, now)
            if best is not None:
                explanation = self._capture(iid, best, now)
                core.reserve(iid, best)
                await self._offer(await self._interaction(iid), best, explanation)

    async def _end_offer(self, rec: InteractionRecord, type: EventType, reason: str = "") -> None:
        """Close the offer on `rec`: back to the queue at its place, or the warm transfer
        fails; the agent is excluded unless the offer was withdrawn by the router."""
        offer = rec.offer
        assert offer is not None
        arec = await self._agent(offer.agent_id)
        agent = arec.agent
        self._add_load(arec, offer.channel, -1)
        if type == EventType.OFFER_EXPIRED:
            arec.missed_offers += 1
            if arec.missed_offers >= self.policy.max_missed_offers and agent.state in (
                AgentState.AVAILABLE,
                AgentState.WRAP_UP,
            ):
                agent.state = AgentState.NOT_READY
                agent.not_ready_reason = f"missed {arec.missed_offers} offers in a row"
        elif type == EventType.REJECTED:
            arec.missed_offers = 0
        if type != EventType.OFFER_WITHDRAWN:
            rec.interaction.excluded_agents = rec.interaction.excluded_agents | {agent.id}
        rec.offer = None
        t = Transition(interactions=[rec], agents=[arec])
        t.events.append(Event(self.clock(), type, rec.id, offer.channel, agent.id, reason))
        requeue = True
        if rec.transfer is None:
            rec.interaction.state = InteractionState.QUEUED
            t.events.append(self._event(rec, EventType.REQUEUED))
        elif rec.transfer.target_agent:
            rec.transfer = None
            t.events.append(self._event(rec, EventType.TRANSFER_FAILED, agent.id, reason))
            requeue = False
        await self._apply(t)
        self._index_agent(arec)
        if requeue:
            self._index_interaction(rec)
        self.hub.publish(NoticeType.OFFER_ENDED, agent.id, rec, self.clock())
        if requeue and type != EventType.OFFER_WITHDRAWN:
            await self._route_interaction(rec)
        await self._route_agent(agent.id)

    # --- agents ---------------------------------------------------------------------------

    def _set_state(self, arec: AgentRecord, state: AgentState, reason: str, now: float) -> None:
        agent = arec.agent
        if state == AgentState.WRAP_UP:
            raise InvalidArgument("state", "WRAP_UP is set by the router after Complete")
        if state == AgentState.OFFLINE and any(agent.load.values()):
            raise FailedPrecondition(
                f"agent {agent.id!r} holds or is offered interactions; complete or transfer "
                "them before going OFFLINE"
            )
        if state == AgentState.AVAILABLE:
            if agent.state != AgentState.AVAILABLE:
                agent.idle_since = now
            arec.missed_offers = 0
            arec.wrap_up_until = 0.0
        agent.not_ready_reason = reason if state == AgentState.NOT_READY else ""
        agent.state = state

    async def upsert_agent(self, agent: Agent, state: AgentState | None) -> AgentRecord:
        """Create an agent (OFFLINE unless `state` says otherwise) or update its profile."""
        async with self.lock:
            now = self.clock()
            arec = await self.store.get_agent(self.tenant, agent.id)
            if arec is None:
                agent.idle_since = now
                arec = AgentRecord(agent)
            else:
                old = arec.agent
                old.display_name, old.skills, old.tier = (
                    agent.display_name,
                    agent.skills,
                    agent.tier,
                )
                old.capacity = agent.capacity
            if state is not None:
                self._set_state(arec, state, "", now)
            await self._apply(Transition(agents=[arec]))
            self._index_agent(arec)
            await self._route_agent(agent.id)
            return await self._agent(agent.id)

    async def set_agent_state(self, agent_id: str, state: AgentState, reason: str) -> AgentRecord:
        async with self.lock:
            arec = await self._agent(agent_id)
            self._set_state(arec, state, reason, self.clock())
            await self._apply(Transition(agents=[arec]))
            self._index_agent(arec)
            await self._route_agent(agent_id)
            return await self._agent(agent_id)

    async def get_agent(self, agent_id: str) -> AgentRecord:
        return await self._agent(agent_id)

    async def list_agents(self, state: AgentState | None) -> list[AgentRecord]:
        agents = await self.store.list_agents(self.tenant)
        agents.sort(key=lambda a: a.agent.id)
        return [a for a in agents if state is None or a.agent.state == state]

    async def remove_agent(self, agent_id: str) -> None:
        async with self.lock:
            arec = await self._agent(agent_id)
            if any(arec.agent.load.values()):
                raise FailedPrecondition(f"agent {agent_id!r} holds or is offered interactions")
            await self._apply(Transition(removed_agents=[agent_id]))
            self.engine.remove_agent(agent_id)
            self._staffed.pop(agent_id, None)

    # --- enqueue --------------------------------------------------------------------------

    async def enqueue(
        self, interaction: Interaction, digest: bytes
    ) -> tuple[InteractionRecord, bool, int, float]:
        """Add an interaction, or return the one already enqueued under its id.

        Returns the record, whether it was created, its queue position and estimated wait.
        """
        async with self.lock:
            existing = await self.store.get_interaction(self.tenant, interaction.id)
            if existing is not None:
                if existing.request_digest != digest:
                    raise AlreadyExists(
                        f"interaction_id: {interaction.id!r} was enqueued with a different request"
                    )
                return (existing, False, *self._position(existing))
            if interaction.customer_tier not in self.policy.customer_tiers:
                raise InvalidArgument(
                    "customer_tier", f"unknown customer tier {interaction.customer_tier!r}"
                )
            now = self.clock()
            interaction.tenant = self.tenant
            interaction.enqueued_at = now
            interaction.state = InteractionState.QUEUED
            rec = InteractionRecord(interaction, request_digest=digest)
            t = Transition()
            await self._link_customer(rec, t, now)
            t.events.append(self._event(rec, EventType.ENQUEUED))
            try:
                created = await self.store.create_interaction(self.tenant, rec, t)
            except (ConnectionError, OSError, TimeoutError) as exc:
                raise Unavailable(f"store unavailable: {exc}") from exc
            if not created:  # pragma: no cover - the tenant lock rules this out in-process
                raise AlreadyExists(f"interaction_id: {interaction.id!r} already exists")
            if self.observer is not None:
                self.observer.transition(self.tenant, t, now)
            self._index_interaction(rec)
            await self._route_interaction(rec)
            rec = await self._interaction(rec.id)
            return (rec, True, *self._position(rec))

    async def _link_customer(self, rec: InteractionRecord, t: Transition, now: float) -> None:
        """Carry a returning customer's context over and prefer the agent who served them."""
        i = rec.interaction
        if not i.customer_id:
            return
        customer = await self.store.get_customer(self.tenant, i.customer_id)
        if customer is None:
            t.customers.append(CustomerRecord(i.customer_id, i.id))
            return
        t.customers.append(dataclasses.replace(customer, last_interaction_id=i.id))
        earlier = await self.store.get_interaction(self.tenant, customer.last_interaction_id)
        if earlier is not None:
            rec.linked_interaction_id = earlier.id
            i.context = {**earlier.interaction.context, **i.context}
            check_context(i.context)
            t.events.append(self._event(rec, EventType.LINKED, reason=earlier.id))
        sticky = now - customer.last_served_at <= self.policy.sticky_agent_seconds
        if not i.preferred_agent and customer.last_agent_id and sticky:
            i.preferred_agent = customer.last_agent_id

    def _position(self, rec: InteractionRecord) -> tuple[int, float]:
        """1-based place in the service order and a rough wait estimate; (0, 0) if not waiting."""
        core = self.engine.core
        if rec.interaction.state != InteractionState.QUEUED or not core.is_waiting(rec.id):
            return 0, 0.0
        order = core.queue_order(self.clock())
        position = order.index(rec.id) + 1
        channel = rec.interaction.channel
        seats = sum(cap.get(channel, 0) for cap in self._staffed.values())
        handle = self.policy.handle_time_seconds[channel]
        return position, position * handle / max(1, seats)

    # --- offer answers --------------------------------------------------------------------

    async def _offered_to(self, interaction_id: str, agent_id: str) -> InteractionRecord:
        rec = await self._interaction(interaction_id)
        await self._agent(agent_id)
        if rec.offer is None or rec.offer.agent_id != agent_id:
            raise FailedPrecondition(
                f"interaction {interaction_id!r} is not offered to agent {agent_id!r}"
            )
        return rec

    async def accept(self, interaction_id: str, agent_id: str) -> InteractionRecord:
        async with self.lock:
            return await self._accept(await self._offered_to(interaction_id, agent_id))

    async def _accept(self, rec: InteractionRecord) -> InteractionRecord:
        assert rec.offer is not None
        now = self.clock()
        i = rec.interaction
        agent_id = rec.offer.agent_id
        arec = await self._agent(agent_id)
        arec.missed_offers = 0
        t = Transition(interactions=[rec], agents=[arec])
        t.events.append(self._event(rec, EventType.ACCEPTED, agent_id))
        released = ""
        if rec.transfer is not None:
            released = rec.agent_id
            if released:
                prev = await self._agent(released)
                self._add_load(prev, i.channel, -1)
                t.agents.append(prev)
            if rec.transfer.channel != i.channel:
                t.events.append(
                    Event(now, EventType.CHANNEL_CHANGED, i.id, rec.transfer.channel, agent_id)
                )
            i.channel, i.required = rec.transfer.channel, rec.transfer.required
            t.events.append(self._event(rec, EventType.TRANSFERRED, agent_id, rec.transfer.reason))
            rec.transfer = None
        if not rec.answered:
            rec.answered = True
            t.count("answered")
            sla = i.sla_seconds or self.policy.sla_seconds[i.channel]
            if now - i.enqueued_at <= sla:
                t.count("answered_in_sla")
        i.state = InteractionState.ASSIGNED
        rec.agent_id, rec.assigned_at, rec.offer = agent_id, now, None
        if i.customer_id:
            t.customers.append(CustomerRecord(i.customer_id, i.id, agent_id, now))
        await self._apply(t)
        for a in t.agents:
            self._index_agent(a)
        if released:
            self.hub.publish(NoticeType.RELEASED, released, rec, now)
        self.hub.publish(NoticeType.ASSIGNED, agent_id, rec, now)
        if released:
            await self._route_agent(released)
        return await self._interaction(rec.id)

    async def reject(self, interaction_id: str, agent_id: str, reason: str) -> InteractionRecord:
        async with self.lock:
            rec = await self._offered_to(interaction_id, agent_id)
            await self._end_offer(rec, EventType.REJECTED, reason)
            return await self._interaction(interaction_id)

    # --- pull -----------------------------------------------------------------------------

    async def _pending_offer_for(self, agent_id: str) -> InteractionRecord | None:
        states = (InteractionState.OFFERED, InteractionState.ASSIGNED)
        offers = [
            r
            for r in await self.store.list_interactions(self.tenant, states)
            if r.offer is not None and r.offer.agent_id == agent_id
        ]
        return min(offers, key=lambda r: r.offer.offered_at if r.offer else 0.0, default=None)

    async def assign_agent(self, agent_id: str, wait: float) -> InteractionRecord | None:
        """The agent's next interaction, accepted on its behalf; waits up to `wait` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        async with self.lock:
            arec = await self._agent(agent_id)
            rec = await self._pending_offer_for(agent_id)
            if rec is not None:
                return await self._accept(rec)
            if arec.agent.state != AgentState.AVAILABLE:
                raise FailedPrecondition(
                    f"agent {agent_id!r} is {arec.agent.state.name}, not AVAILABLE"
                )
            watcher = self.hub.subscribe(frozenset({agent_id}))
        try:
            while (left := deadline - loop.time()) > 0:
                notice = await watcher.next(left)
                if notice is None:
                    return None
                if notice.type != NoticeType.OFFERED:
                    continue
                async with self.lock:
                    rec = await self._interaction(notice.record.id)
                    if rec.offer is not None and rec.offer.agent_id == agent_id:
                        return await self._accept(rec)
            return None
        finally:
            self.hub.unsubscribe(watcher)

    async def assign_interaction(
        self, interaction_id: str, wait: float
    ) -> tuple[str, InteractionRecord]:
        """The agent chosen for an interaction: offered to or holding it; "" if none yet."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        async with self.lock:
            rec = await self._interaction(interaction_id)
            state = rec.interaction.state
            if state not in OPEN:
                raise FailedPrecondition(f"interaction {interaction_id!r} is {state.name}")
            if rec.offer is not None:
                return rec.offer.agent_id, rec
            if state == InteractionState.ASSIGNED:
                return rec.agent_id, rec
            watcher = self.hub.subscribe(None)
        try:
            while (left := deadline - loop.time()) > 0:
                notice = await watcher.next(left)
                if notice is None:
                    break
                if notice.type == NoticeType.OFFERED and notice.record.id == interaction_id:
                    return notice.agent_id, notice.record
            return "", await self._interaction(interaction_id)
        finally:
            self.hub.unsubscribe(watcher)

    # --- completion and cancellation ------------------------------------------------------

    async def _drop_transfer(self, rec: InteractionRecord, t: Transition) -> str:
        """Abandon a pending warm transfer; returns the offered agent it released, if any."""
        released = ""
        if rec.offer is not None:
            target = await self._agent(rec.offer.agent_id)
            self._add_load(target, rec.offer.channel, -1)
            t.agents.append(target)
            t.events.append(self._event(rec, EventType.OFFER_WITHDRAWN, target.agent.id))
            released = target.agent.id
            rec.offer = None
        self.engine.remove(rec.id)
        rec.transfer = None
        return released

    async def complete(
        self, interaction_id: str, agent_id: str, disposition: str, csat: int
    ) -> InteractionRecord:
        """End the conversation: agent and interaction into wrap-up; a second Complete
        during wrap-up ends it early."""
        async with self.lock:
            rec = await self._interaction(interaction_id)
            i = rec.interaction
            if agent_id and agent_id != rec.agent_id:
                raise FailedPrecondition(
                    f"interaction {interaction_id!r} is not held by agent {agent_id!r}"
                )
            if i.state == InteractionState.WRAP_UP:
                return await self._finish_wrap_up(rec, disposition, csat)
            if i.state != InteractionState.ASSIGNED:
                raise FailedPrecondition(
                    f"interaction {interaction_id!r} is {i.state.name}, not ASSIGNED"
                )
            now = self.clock()
            t = Transition(interactions=[rec])
            withdrawn = await self._drop_transfer(rec, t)
            arec = await self._agent(rec.agent_id)
            agent = arec.agent
            self._add_load(arec, i.channel, -1)
            self._learn_handle_time(arec, i.channel, now - rec.assigned_at)
            wrap = self.policy.wrap_up_seconds[i.channel]
            rec.disposition = disposition or rec.disposition
            rec.csat = csat or rec.csat
            if wrap > 0:
                i.state = InteractionState.WRAP_UP
                rec.wrap_up_until = now + wrap
                t.events.append(self._event(rec, EventType.WRAP_UP_STARTED, agent.id))
                if agent.state in (AgentState.AVAILABLE, AgentState.WRAP_UP):
                    agent.state = AgentState.WRAP_UP
                    arec.wrap_up_until = max(arec.wrap_up_until, rec.wrap_up_until)
            else:
                i.state = InteractionState.COMPLETED
                t.events.append(self._event(rec, EventType.COMPLETED, agent.id, disposition))
                t.count("completed")
            t.agents.append(arec)
            if i.customer_id:
                t.customers.append(CustomerRecord(i.customer_id, i.id, agent.id, now))
            await self._apply(t)
            for a in t.agents:
                self._index_agent(a)
            if wrap > 0:
                self._at(rec.wrap_up_until, "wrap", rec.id)
                if agent.state == AgentState.WRAP_UP:
                    self._at(arec.wrap_up_until, "agent_wrap", agent.id)
            self.hub.publish(NoticeType.RELEASED, agent.id, rec, now)
            if withdrawn:
                self.hub.publish(NoticeType.OFFER_ENDED, withdrawn, rec, now)
                await self._route_agent(withdrawn)
            await self._route_agent(agent.id)
            return await self._interaction(interaction_id)

    def _learn_handle_time(self, arec: AgentRecord, channel: Channel, seconds: float) -> None:
        if seconds <= 0:
            return
        key = ("", channel)
        old = arec.agent.handle_time.get(key, self.policy.handle_time_seconds[channel])
        alpha = self.policy.handle_time_alpha
        arec.agent.handle_time[key] = old + alpha * (seconds - old)

    async def _finish_wrap_up(
        self, rec: InteractionRecord, disposition: str = "", csat: int = 0
    ) -> InteractionRecord:
        now = self.clock()
        rec.interaction.state = InteractionState.COMPLETED
        rec.disposition = disposition or rec.disposition
        rec.csat = csat or rec.csat
        t = Transition(interactions=[rec])
        t.events.append(self._event(rec, EventType.COMPLETED, rec.agent_id, rec.disposition))
        t.count("completed")
        freed = ""
        arec = await self.store.get_agent(self.tenant, rec.agent_id)
        if (
            arec is not None
            and arec.agent.state == AgentState.WRAP_UP
            and arec.wrap_up_until <= rec.wrap_up_until
        ):
            self._set_state(arec, AgentState.AVAILABLE, "", now)
            t.agents.append(arec)
            freed = arec.agent.id
        await self._apply(t)
        if arec is not None and freed:
            self._index_agent(arec)
            await self._route_agent(freed)
        return await self._interaction(rec.id)

    async def cancel(self, interaction_id: str, reason: str) -> InteractionRecord:
        """The customer left: release everyone holding or offered the interaction."""
        async with self.lock:
            rec = await self._interaction(interaction_id)
            i = rec.interaction
            if i.state not in OPEN:
                raise FailedPrecondition(f"interaction {interaction_id!r} is {i.state.name}")
            now = self.clock()
            t = Transition(interactions=[rec])
            notices: list[tuple[NoticeType, str]] = []
            if rec.offer is not None:
                offered = await self._agent(rec.offer.agent_id)
                self._add_load(offered, rec.offer.channel, -1)
                t.agents.append(offered)
                notices.append((NoticeType.OFFER_ENDED, offered.agent.id))
            if i.state == InteractionState.ASSIGNED:
                holder = await self._agent(rec.agent_id)
                self._add_load(holder, i.channel, -1)
                t.agents.append(holder)
                notices.append((NoticeType.RELEASED, holder.agent.id))
            else:
                t.count("abandoned")
            self.engine.remove(interaction_id)
            i.state = InteractionState.CANCELLED
            rec.offer, rec.transfer = None, None
            t.events.append(self._event(rec, EventType.CANCELLED, reason=reason))
            await self._apply(t)
            for a in t.agents:
                self._index_agent(a)
            for type, agent_id in notices:
                self.hub.publish(type, agent_id, rec, now)
            for _, agent_id in notices:
                await self._route_agent(agent_id)
            return await self._interaction(interaction_id)

    # --- transfer and escalation ----------------------------------------------------------

    async def transfer(
        self,
        interaction_id: str,
        mode: TransferMode,
        target_agent: str,
        required: tuple[SkillRequirement, ...] | None,
        channel: Channel | None,
        reason: str,
    ) -> InteractionRecord:
        """Move an assigned interaction to an agent, a skill requirement or the queue."""
        async with self.lock:
            rec = await self._interaction(interaction_id)
            i = rec.interaction
            if i.state != InteractionState.ASSIGNED:
                raise FailedPrecondition(
                    f"interaction {interaction_id!r} is {i.state.name}, not ASSIGNED"
                )
            if rec.transfer is not None:
                raise FailedPrecondition(f"interaction {interaction_id!r} has a pending transfer")
            new_channel = channel if channel is not None else i.channel
            new_required = required if required is not None else i.required
            if target_agent:
                await self._check_target(rec, target_agent, new_channel)
            t = Transition(interactions=[rec])
            t.events.append(
                self._event(rec, EventType.TRANSFER_REQUESTED, target_agent, reason or mode.name)
            )
            pending = PendingTransfer(mode, target_agent, new_channel, new_required, reason)
            if mode == TransferMode.WARM:
                rec.transfer = pending
                return await self._start_transfer(rec, t)
            return await self._cold_transfer(rec, pending, t)

    async def _check_target(self, rec: InteractionRecord, agent_id: str, channel: Channel) -> None:
        if agent_id == rec.agent_id:
            raise FailedPrecondition(f"agent {agent_id!r} already holds the interaction")
        target = (await self._agent(agent_id)).agent
        if target.state != AgentState.AVAILABLE:
            raise FailedPrecondition(f"agent {agent_id!r} is {target.state.name}, not AVAILABLE")
        if target.load_of(channel) >= target.capacity_of(channel):
            raise FailedPrecondition(f"agent {agent_id!r} has no free {channel.name} capacity")

    async def _start_transfer(self, rec: InteractionRecord, t: Transition) -> InteractionRecord:
        """Route a warm transfer: the holder keeps the interaction until a target accepts."""
        assert rec.transfer is not None
        if rec.transfer.target_agent:
            await self._offer(rec, rec.transfer.target_agent, None, t)
        else:
            await self._apply(t)
            self._index_interaction(rec)
            await self._route_interaction(rec)
        return await self._interaction(rec.id)

    async def _cold_transfer(
        self, rec: InteractionRecord, pending: PendingTransfer, t: Transition
    ) -> InteractionRecord:
        """Release the holder now and queue (or offer) the interaction on its new terms."""
        i = rec.interaction
        now = self.clock()
        holder = await self._agent(rec.agent_id)
        self._add_load(holder, i.channel, -1)
        t.agents.append(holder)
        if pending.channel != i.channel:
            t.events.append(
                Event(now, EventType.CHANNEL_CHANGED, i.id, pending.channel, holder.agent.id)
            )
        i.channel, i.required = pending.channel, pending.required
        i.excluded_agents = i.excluded_agents | {holder.agent.id}
        i.state = InteractionState.QUEUED
        rec.agent_id = ""
        if pending.target_agent:
            await self._offer(rec, pending.target_agent, None, t)
        else:
            await self._apply(t)
            self._index_interaction(rec)
        self._index_agent(holder)
        self.hub.publish(NoticeType.RELEASED, holder.agent.id, rec, now)
        await self._route_interaction(rec)
        await self._route_agent(holder.agent.id)
        return await self._interaction(rec.id)

    async def escalate(self, interaction_id: str, reason: str) -> InteractionRecord:
        """One escalation level up: a higher tier is required and urgency rises; an assigned
        interaction is re-routed as a warm transfer."""
        async with self.lock:
            rec = await self._interaction(interaction_id)
            i = rec.interaction
            if i.state not in OPEN:
                raise FailedPrecondition(f"interaction {interaction_id!r} is {i.state.name}")
            if i.escalation_level >= MAX_ESCALATION_LEVEL:
                raise FailedPrecondition(
                    f"interaction {interaction_id!r} is at the highest escalation level"
                )
            if rec.transfer is not None:
                raise FailedPrecondition(f"interaction {interaction_id!r} has a pending transfer")
            i.escalation_level += 1
            t = Transition(interactions=[rec])
            t.events.append(self._event(rec, EventType.ESCALATED, reason=reason))
            if i.state == InteractionState.ASSIGNED:
                rec.transfer = PendingTransfer(
                    TransferMode.WARM, "", i.channel, i.required, reason or "escalation"
                )
                return await self._start_transfer(rec, t)
            withdrawn = ""
            if rec.offer is not None:
                offered = await self._agent(rec.offer.agent_id)
                self._add_load(offered, rec.offer.channel, -1)
                t.agents.append(offered)
                t.events.append(self._event(rec, EventType.OFFER_WITHDRAWN, offered.agent.id))
                withdrawn = offered.agent.id
                rec.offer = None
                i.state = InteractionState.QUEUED
            await self._apply(t)
            for a in t.agents:
                self._index_agent(a)
            self.engine.remove(i.id)
            self._index_interaction(rec)
            if withdrawn:
                self.hub.publish(NoticeType.OFFER_ENDED, withdrawn, rec, self.clock())
            await self._route_interaction(rec)
            if withdrawn:
                await self._route_agent(withdrawn)
            return await self._interaction(interaction_id)

    # --- context, history, explanations, stats --------------------------------------------

    async def update_context(
        self, interaction_id: str, context: dict[str, Any], remove_keys: list[str]
    ) -> InteractionRecord:
        async with self.lock:
            rec = await self._interaction(interaction_id)
            i = rec.interaction
            if i.state in (InteractionState.COMPLETED, InteractionState.CANCELLED):
                raise FailedPrecondition(f"interaction {interaction_id!r} is {i.state.name}")
            merged = {k: v for k, v in i.context.items() if k not in set(remove_keys)}
            merged.update(context)
            check_context(merged)
            i.context = merged
            changed = ",".join(sorted({*context, *remove_keys}))
            t = Transition(interactions=[rec])
            t.events.append(self._event(rec, EventType.CONTEXT_UPDATED, reason=changed))
            await self._apply(t)
            return rec

    async def get_interaction(self, interaction_id: str) -> tuple[InteractionRecord, list[Event]]:
        """The interaction and its history, the customer's earlier linked ones first."""
        rec = await self._interaction(interaction_id)
        chain: list[list[Event]] = [await self.store.history(self.tenant, rec.id)]
        link, seen = rec.linked_interaction_id, {rec.id}
        while link and link not in seen and len(seen) <= LINK_DEPTH:
            seen.add(link)
            chain.append(await self.store.history(self.tenant, link))
            earlier = await self.store.get_interaction(self.tenant, link)
            link = earlier.linked_interaction_id if earlier else ""
        return rec, [e for events in reversed(chain) for e in events]

    async def explain(self, interaction_id: str) -> tuple[Explanation, bool, str]:
        """(explanation, live, chosen agent): live for a waiting interaction, else the
        explanation recorded with the last routing decision."""
        async with self.lock:
            rec = await self._interaction(interaction_id)
            now = self.clock()
            if self.engine.core.is_waiting(interaction_id):
                chosen = self.engine.best_agent(interaction_id, now) or ""
                return self.engine.explain(interaction_id, now), True, chosen
            if rec.explanation is None:
                raise FailedPrecondition(
                    f"no routing decision is recorded for interaction {interaction_id!r}"
                )
            chosen = rec.explanation.winner.agent_id if rec.explanation.winner else ""
            return rec.explanation, False, chosen

    async def stats(self) -> dict[str, Any]:
        now = self.clock()
        waiting = await self.store.list_interactions(self.tenant, (InteractionState.QUEUED,))
        by_channel: dict[Channel, int] = {}
        by_skill: dict[str, int] = {}
        for rec in waiting:
            i = rec.interaction
            by_channel[i.channel] = by_channel.get(i.channel, 0) + 1
            for req in i.required:
                by_skill[req.skill] = by_skill.get(req.skill, 0) + 1
        by_state: dict[AgentState, int] = {}
        for arec in await self.store.list_agents(self.tenant):
            by_state[arec.agent.state] = by_state.get(arec.agent.state, 0) + 1
        counters = await self.store.counters(self.tenant)
        answered, abandoned = counters.get("answered", 0), counters.get("abandoned", 0)
        level = (
            counters.get("answered_in_sla", 0) / (answered + abandoned)
            if answered + abandoned
            else 1.0
        )
        return {
            "at": now,
            "waiting": len(waiting),
            "by_channel": by_channel,
            "by_skill": by_skill,
            "longest_wait": max((now - r.interaction.enqueued_at for r in waiting), default=0.0),
            "by_state": by_state,
            "offered": counters.get("offered", 0),
            "answered": answered,
            "abandoned": abandoned,
            "completed": counters.get("completed", 0),
            "service_level": level,
        }

    # --- time -----------------------------------------------------------------------------

    def next_due(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    async def tick(self, rematch: bool) -> None:
        """Fire every timer that is due, then (if asked) re-run matching for relaxation."""
        async with self.lock:
            while self._timers and self._timers[0][0] <= self.clock():
                due, _, kind, key = heapq.heappop(self._timers)
                await self._fire(kind, key, due)
            if rematch:
                await self._match_all()

    async def _fire(self, kind: str, key: str, due: float) -> None:
        if kind == "offer":
            rec = await self.store.get_interaction(self.tenant, key)
            if rec is not None and rec.offer is not None and rec.offer.expires_at == due:
                await self._end_offer(rec, EventType.OFFER_EXPIRED, "no answer")
        elif kind == "wrap":
            rec = await self.store.get_interaction(self.tenant, key)
            if (
                rec is not None
                and rec.interaction.state == InteractionState.WRAP_UP
                and rec.wrap_up_until == due
            ):
                await self._finish_wrap_up(rec)
        elif kind == "agent_wrap":
            arec = await self.store.get_agent(self.tenant, key)
            if (
                arec is not None
                and arec.agent.state == AgentState.WRAP_UP
                and (arec.wrap_up_until == due)
            ):
                self._set_state(arec, AgentState.AVAILABLE, "", self.clock())
                await self._apply(Transition(agents=[arec]))
                self._index_agent(arec)
                await self._route_agent(key)
