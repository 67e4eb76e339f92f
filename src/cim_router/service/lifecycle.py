"""One tenant's interaction lifecycle: enqueue, offer, accept, complete, cancel, timers.

A `TenantRouter` owns the tenant's live state (agents and open interactions, in memory)
and its routing index (an `Engine`), and is their only writer. Each public coroutine
decides under the tenant lock, submits what changed to the store as one `Transition`,
releases the lock, and answers once the store says the change is durable; notices to
watch streams go out only then too. Helpers beginning with `_` expect the lock held.
Agents' RPCs, transfers and escalation, the pull model, reports and restart recovery build
on these helpers in their own modules.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from cim_router.domain import context as domain_context
from cim_router.domain.agent import AgentState
from cim_router.domain.channel import Channel
from cim_router.domain.errors import ValidationError
from cim_router.domain.interaction import Interaction, InteractionState
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
    Transition,
)
from cim_router.service.recovery import recover
from cim_router.service.state import Snapshot, Store
from cim_router.service.watch import Hub, Notice, NoticeType

Clock = Callable[[], float]
log = logging.getLogger(__name__)

# Up to this many agents a decision records the full explanation (a scan over all agents);
# above it, only the winner's score terms, so that decisions stay cheap at scale.
EXPLAIN_SCAN_LIMIT = 256
RECENTLY_CLOSED = 10_000  # closed interactions kept in memory for quick reads
OPEN = (InteractionState.QUEUED, InteractionState.OFFERED, InteractionState.ASSIGNED)
LIVE = (*OPEN, InteractionState.WRAP_UP)


class Observer(Protocol):
    """What the router reports to metrics."""

    def transition(self, tenant: str, t: Transition, now: float) -> None: ...

    def decision(self, seconds: float) -> None: ...


def check_context(context: Mapping[str, Any], field: str = "context") -> None:
    """Every rule of a context (domain/context.py), for contexts merged from others."""
    try:
        domain_context.check_context(field, context)
    except ValidationError as exc:
        raise InvalidArgument(exc.field, exc.reason) from None


class TenantRouter:
    """Routing and lifecycle for one tenant."""

    def __init__(
        self,
        tenant: str,
        store: Store,
        policy: Policy,
        clock: Clock,
        observer: Observer | None = None,
    ) -> None:
        self.tenant = tenant
        self.store = store
        self.policy = policy
        self.clock = clock
        self.observer = observer
        self.lock = asyncio.Lock()
        self.hub = Hub()
        self.available = False  # False until loaded, and while the store is down
        self._reset(Snapshot())

    def _reset(self, snap: Snapshot) -> None:
        self.engine = Engine(self.policy)
        self.agents: dict[str, AgentRecord] = {}
        self.open: dict[str, InteractionRecord] = {}
        self.closed: OrderedDict[str, InteractionRecord] = OrderedDict()
        self.counters: dict[str, int] = dict(snap.counters)
        # (due, seq, kind, key): "offer" / "wrap" keyed by interaction, "agent_wrap" by agent.
        self._timers: list[tuple[float, int, str, str]] = []
        self._seq = 0
        self._arrivals = 0
        self._outbox: deque[tuple[int, Notice]] = deque()
        self._relax_due: float | None = None
        self._relax_stale = True
        self._rematch_now = False
        # Capacity of agents that are not OFFLINE, for the wait estimate.
        self._staffed: dict[str, dict[Channel, int]] = {}
        self._seats: dict[Channel, int] = {}  # their sum per channel, kept as they change

    # --- start and reload -----------------------------------------------------------------

    async def load(self, restart: bool) -> None:
        """Rebuild state, index and timers from the store.

        On a restart, offers in flight go back to the queue (their watch streams are gone)
        and agents' loads are recounted from what they hold, so none is over capacity."""
        async with self.lock:
            self.available = False
            snap = await self.store.load(self.tenant)
            self._reset(snap)
            for arec in snap.agents:
                self.agents[arec.agent.id] = arec
            recs = sorted(snap.interactions, key=lambda r: (r.arrival, r.interaction.enqueued_at))
            for rec in recs:
                self.open[rec.id] = rec
                self._arrivals = max(self._arrivals, rec.arrival)
            t = Transition()
            if restart:
                recover(self, t)
            for arec in self.agents.values():
                self._index_agent(arec)
                if arec.agent.state == AgentState.WRAP_UP:
                    self._at(arec.wrap_up_until, "agent_wrap", arec.agent.id)
            for rec in self.open.values():
                if rec.offer is not None:  # reserved: counted in its agent's load
                    self._at(rec.offer.expires_at, "offer", rec.id)
                elif rec.interaction.state == InteractionState.QUEUED or rec.transfer:
                    self._index_interaction(rec)
                if rec.interaction.state == InteractionState.WRAP_UP:
                    self._at(rec.wrap_up_until, "wrap", rec.id)
            self.available = True
            seq = 0  # what this load wrote, if anything, to wait for
            if t.interactions or t.agents:
                self._submit(t)
                seq = self.store.submitted
            self._rematch_now = True  # the first tick offers what can be, once serving
        if seq:
            await self.store.durable(seq)
        log.info(
            "tenant loaded",
            extra={"tenant": self.tenant, "agents": len(self.agents), "open": len(self.open)},
        )

    def on_durable(self, seq: int) -> None:
        """Deliver the notices of changes now stored."""
        while self._outbox and self._outbox[0][0] <= seq:
            self.hub.deliver(self._outbox.popleft()[1])

    def on_lost(self) -> None:
        self.available = False
        self._outbox.clear()

    # --- small helpers --------------------------------------------------------------------

    def _check_available(self) -> None:
        if not self.available:
            raise Unavailable("store unavailable: redis is unreachable or reloading")

    def _submit(self, t: Transition, create: str = "") -> None:
        """Hand `t` to the store and make it the live state."""
        self.store.submit(self.tenant, t, create)
        for rec in t.interactions:
            if rec.interaction.state in LIVE:
                self.open[rec.id] = rec
            else:
                self.open.pop(rec.id, None)
                self.closed[rec.id] = rec
                self.closed.move_to_end(rec.id)
                if len(self.closed) > RECENTLY_CLOSED:
                    self.closed.popitem(last=False)
        for arec in t.agents:
            self.agents[arec.agent.id] = arec
        for agent_id in t.removed_agents:
            self.agents.pop(agent_id, None)
        for name, n in t.counters.items():
            self.counters[name] = self.counters.get(name, 0) + n
        if self.observer is not None:
            self.observer.transition(self.tenant, t, self.clock())

    async def _durable(self) -> None:
        """Wait until everything submitted so far is stored (call without the lock)."""
        await self.store.durable(self.store.submitted)

    def _notify(self, type: NoticeType, agent_id: str, rec: InteractionRecord, at: float) -> None:
        """Tell `agent_id`'s watchers, once what was just submitted is durable."""
        if self.hub.wants(agent_id):
            notice = Notice(type, agent_id, rec.snapshot(), at)
            self._outbox.append((self.store.submitted, notice))

    def _agent(self, agent_id: str) -> AgentRecord:
        found = self.agents.get(agent_id)
        if found is None:
            raise NotFound(f"agent {agent_id!r} not found")
        return found

    def _live(self, interaction_id: str) -> InteractionRecord:
        """An interaction that is not closed; NotFound or FailedPrecondition otherwise."""
        found = self.open.get(interaction_id)
        if found is not None:
            return found
        closed = self.closed.get(interaction_id)
        if closed is not None:
            state = closed.interaction.state.name
            raise FailedPrecondition(f"interaction {interaction_id!r} is {state}")
        raise NotFound(f"interaction {interaction_id!r} not found")

    async def _interaction(self, interaction_id: str) -> InteractionRecord:
        """Any interaction: open, recently closed, or read from the store."""
        found = self.open.get(interaction_id) or self.closed.get(interaction_id)
        if found is None:
            found = await self.store.read_interaction(self.tenant, interaction_id)
        if found is None:
            raise NotFound(f"interaction {interaction_id!r} not found")
        return found

    def _at(self, due: float, kind: str, key: str) -> None:
        self._seq += 1
        heapq.heappush(self._timers, (due, self._seq, kind, key))

    def _index_agent(self, arec: AgentRecord) -> None:
        agent = arec.agent
        self.engine.upsert_agent(agent)
        self._unstaff(agent.id)
        if agent.state != AgentState.OFFLINE:
            self._staffed[agent.id] = capacity = dict(agent.capacity)
            for channel, n in capacity.items():
                self._seats[channel] = self._seats.get(channel, 0) + n

    def _unstaff(self, agent_id: str) -> None:
        for channel, n in self._staffed.pop(agent_id, {}).items():
            self._seats[channel] -= n

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
        self._relax_stale = True

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

    def _timed(
        self, decide: Callable[[str, float], str | None], key: str, now: float
    ) -> str | None:
        if self.observer is None:
            return decide(key, now)
        start = time.perf_counter()
        found = decide(key, now)
        self.observer.decision(time.perf_counter() - start)
        return found

    # --- offers ---------------------------------------------------------------------------

    def _offer(
        self,
        rec: InteractionRecord,
        agent_id: str,
        explanation: Explanation | None,
        extra: Transition | None = None,
    ) -> None:
        """Reserve `agent_id` for `rec` until the offer timeout, and tell its watchers."""
        now = self.clock()
        arec = self._agent(agent_id)
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
        self._submit(t)
        self._index_agent(arec)
        self._at(expires, "offer", rec.id)
        self._notify(NoticeType.OFFERED, agent_id, rec, now)

    def _route_interaction(self, rec: InteractionRecord) -> None:
        """Offer a waiting interaction to its best eligible agent, if one is free."""
        now = self.clock()
        if not self.engine.core.is_waiting(rec.id):
            return
        best = self._timed(self.engine.best_agent, rec.id, now)
        if best is None:
            return
        explanation = self._capture(rec.id, best, now)
        self.engine.core.reserve(rec.id, best)
        self._offer(rec, best, explanation)

    def _route_agent(self, agent_id: str) -> None:
        """Offer an agent with room the best waiting interactions it may take."""
        core = self.engine.core
        while core.has_agent(agent_id) and core.waiting_count():
            now = self.clock()
            best = self._timed(self.engine.best_interaction, agent_id, now)
            if best is None:
                return
            rec = self.open[best]
            explanation = self._capture(best, agent_id, now)
            core.reserve(best, agent_id)
            self._offer(rec, agent_id, explanation)

    def _match_all(self) -> None:
        """Offer every waiting interaction that has an eligible free agent, in queue order.

        Needed beyond arrivals and freed agents because relaxation steps make agents
        eligible with time alone, and after a reload."""
        core = self.engine.core
        if not core.waiting_count() or not core.agents_with_room():
            return
        now = self.clock()
        if self.policy.matching == "joint":
            for iid, agent_id in self.engine.match_waiting(now):
                self._offer(self.open[iid], agent_id, None)
            return
        for iid in core.queue_order(now):
            best = self._timed(self.engine.best_agent, iid, now)
            if best is not None:
                explanation = self._capture(iid, best, now)
                core.reserve(iid, best)
                self._offer(self.open[iid], best, explanation)

    def _end_offer(self, rec: InteractionRecord, type: EventType, reason: str = "") -> None:
        """Close the offer on `rec`: back to the queue at its place, or the warm transfer
        fails; the agent is excluded unless the offer was withdrawn by the router."""
        offer = rec.offer
        assert offer is not None
        arec = self._agent(offer.agent_id)
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
        self._submit(t)
        self._index_agent(arec)
        if requeue:
            self._index_interaction(rec)
        self._notify(NoticeType.OFFER_ENDED, agent.id, rec, self.clock())
        if requeue and type != EventType.OFFER_WITHDRAWN:
            self._route_interaction(rec)
        self._route_agent(agent.id)

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

    # --- enqueue --------------------------------------------------------------------------

    async def enqueue(
        self, interaction: Interaction, digest: bytes
    ) -> tuple[InteractionRecord, bool, int, float]:
        """Add an interaction, or return the one already enqueued under its id.

        Returns the record, whether it was created, its queue position and estimated wait.
        """
        self._check_available()
        if interaction.customer_tier not in self.policy.customer_tiers:
            raise InvalidArgument(
                "customer_tier", f"unknown customer tier {interaction.customer_tier!r}"
            )
        stored, customer, earlier = await self._prefetch(interaction)
        async with self.lock:
            self._check_available()
            existing = self.open.get(interaction.id) or self.closed.get(interaction.id) or stored
            if existing is not None:
                if existing.request_digest != digest:
                    raise AlreadyExists(
                        f"interaction_id: {interaction.id!r} was enqueued with a different request"
                    )
                out = (existing.snapshot(), False, *self._position(existing))
            else:
                out = self._create(interaction, digest, customer, earlier)
        await self._durable()
        return out

    async def _prefetch(
        self, interaction: Interaction
    ) -> tuple[InteractionRecord | None, CustomerRecord | None, InteractionRecord | None]:
        """What enqueue needs from the store, read before the lock: an interaction already
        stored under the id, the customer's record, and their last interaction. An id
        known here is a repeat, answered from memory: nothing to read."""
        if interaction.id in self.open or interaction.id in self.closed:
            return None, None, None
        stored, customer = await self.store.read_existing(
            self.tenant, interaction.id, interaction.customer_id
        )
        earlier = None
        if customer is not None and customer.last_interaction_id:
            last = customer.last_interaction_id
            earlier = self.open.get(last) or self.closed.get(last)
            if earlier is None:
                earlier = await self.store.read_interaction(self.tenant, last)
        return stored, customer, earlier

    def _create(
        self,
        interaction: Interaction,
        digest: bytes,
        customer: CustomerRecord | None,
        earlier: InteractionRecord | None,
    ) -> tuple[InteractionRecord, bool, int, float]:
        now = self.clock()
        interaction.tenant = self.tenant
        interaction.enqueued_at = now
        interaction.state = InteractionState.QUEUED
        self._arrivals += 1
        rec = InteractionRecord(interaction, request_digest=digest, arrival=self._arrivals)
        t = Transition(interactions=[rec])
        self._link_customer(rec, t, now, customer, earlier)
        t.events.append(self._event(rec, EventType.ENQUEUED))
        self._submit(t, create=rec.id)
        self._index_interaction(rec)
        self._route_interaction(rec)
        return rec.snapshot(), True, *self._position(rec)

    def _link_customer(
        self,
        rec: InteractionRecord,
        t: Transition,
        now: float,
        customer: CustomerRecord | None,
        earlier: InteractionRecord | None,
    ) -> None:
        """Carry a returning customer's context over and prefer the agent who served them."""
        i = rec.interaction
        if not i.customer_id:
            return
        if customer is None:
            t.customers.append(CustomerRecord(i.customer_id, i.id))
            return
        t.customers.append(dataclasses.replace(customer, last_interaction_id=i.id))
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
        position = core.queue_position(rec.id, self.clock())
        channel = rec.interaction.channel
        seats = self._seats.get(channel, 0)
        handle = self.policy.handle_time_seconds[channel]
        return position, position * handle / max(1, seats)

    # --- offer answers --------------------------------------------------------------------

    def _offered_to(self, interaction_id: str, agent_id: str) -> InteractionRecord:
        rec = self._live(interaction_id)
        self._agent(agent_id)
        if rec.offer is None or rec.offer.agent_id != agent_id:
            raise FailedPrecondition(
                f"interaction {interaction_id!r} is not offered to agent {agent_id!r}"
            )
        return rec

    async def accept(self, interaction_id: str, agent_id: str) -> InteractionRecord:
        async with self.lock:
            self._check_available()
            out = self._accept(self._offered_to(interaction_id, agent_id))
        await self._durable()
        return out

    def _accept(self, rec: InteractionRecord) -> InteractionRecord:
        assert rec.offer is not None
        now = self.clock()
        i = rec.interaction
        agent_id = rec.offer.agent_id
        arec = self._agent(agent_id)
        arec.missed_offers = 0
        t = Transition(interactions=[rec], agents=[arec])
        t.events.append(self._event(rec, EventType.ACCEPTED, agent_id))
        released = ""
        if rec.transfer is not None:
            released = rec.agent_id
            if released:
                prev = self._agent(released)
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
        self._submit(t)
        for a in t.agents:
            self._index_agent(a)
        if released:
            self._notify(NoticeType.RELEASED, released, rec, now)
        self._notify(NoticeType.ASSIGNED, agent_id, rec, now)
        if released:
            self._route_agent(released)
        return rec.snapshot()

    async def reject(self, interaction_id: str, agent_id: str, reason: str) -> InteractionRecord:
        async with self.lock:
            self._check_available()
            rec = self._offered_to(interaction_id, agent_id)
            self._end_offer(rec, EventType.REJECTED, reason)
            out = rec.snapshot()
        await self._durable()
        return out

    # --- completion and cancellation ------------------------------------------------------

    def _withdraw_offer(self, rec: InteractionRecord, t: Transition) -> str:
        """Take back an open offer on `rec` (no exclusion, no missed offer); returns the
        agent it released, or "" if there was none."""
        if rec.offer is None:
            return ""
        target = self._agent(rec.offer.agent_id)
        self._add_load(target, rec.offer.channel, -1)
        t.agents.append(target)
        t.events.append(self._event(rec, EventType.OFFER_WITHDRAWN, target.agent.id))
        rec.offer = None
        return target.agent.id

    def _drop_transfer(self, rec: InteractionRecord, t: Transition) -> str:
        """Abandon a pending warm transfer; returns the offered agent it released, if any."""
        released = self._withdraw_offer(rec, t)
        self.engine.remove(rec.id)
        rec.transfer = None
        return released

    async def complete(
        self, interaction_id: str, agent_id: str, disposition: str, csat: int
    ) -> InteractionRecord:
        """End the conversation: agent and interaction into wrap-up; a second Complete
        during wrap-up ends it early."""
        async with self.lock:
            self._check_available()
            rec = self._live(interaction_id)
            if agent_id and agent_id != rec.agent_id:
                raise FailedPrecondition(
                    f"interaction {interaction_id!r} is not held by agent {agent_id!r}"
                )
            if rec.interaction.state == InteractionState.WRAP_UP:
                self._finish_wrap_up(rec, disposition, csat)
            elif rec.interaction.state != InteractionState.ASSIGNED:
                raise FailedPrecondition(
                    f"interaction {interaction_id!r} is {rec.interaction.state.name}, not ASSIGNED"
                )
            else:
                self._complete(rec, disposition, csat)
            out = rec.snapshot()
        await self._durable()
        return out

    def _complete(self, rec: InteractionRecord, disposition: str, csat: int) -> None:
        i = rec.interaction
        now = self.clock()
        t = Transition(interactions=[rec])
        withdrawn = self._drop_transfer(rec, t)
        arec = self._agent(rec.agent_id)
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
        self._submit(t)
        for a in t.agents:
            self._index_agent(a)
        if wrap > 0:
            self._at(rec.wrap_up_until, "wrap", rec.id)
            if agent.state == AgentState.WRAP_UP:
                self._at(arec.wrap_up_until, "agent_wrap", agent.id)
        self._notify(NoticeType.RELEASED, agent.id, rec, now)
        if withdrawn:
            self._notify(NoticeType.OFFER_ENDED, withdrawn, rec, now)
            self._route_agent(withdrawn)
        self._route_agent(agent.id)

    def _learn_handle_time(self, arec: AgentRecord, channel: Channel, seconds: float) -> None:
        if seconds <= 0:
            return
        key = ("", channel)
        old = arec.agent.handle_time.get(key, self.policy.handle_time_seconds[channel])
        alpha = self.policy.handle_time_alpha
        arec.agent.handle_time[key] = old + alpha * (seconds - old)

    def _finish_wrap_up(self, rec: InteractionRecord, disposition: str = "", csat: int = 0) -> None:
        now = self.clock()
        rec.interaction.state = InteractionState.COMPLETED
        rec.disposition = disposition or rec.disposition
        rec.csat = csat or rec.csat
        t = Transition(interactions=[rec])
        t.events.append(self._event(rec, EventType.COMPLETED, rec.agent_id, rec.disposition))
        t.count("completed")
        arec = self.agents.get(rec.agent_id)
        freed = (
            arec is not None
            and arec.agent.state == AgentState.WRAP_UP
            and arec.wrap_up_until <= rec.wrap_up_until
        )
        if arec is not None and freed:
            self._set_state(arec, AgentState.AVAILABLE, "", now)
            t.agents.append(arec)
        self._submit(t)
        if arec is not None and freed:
            self._index_agent(arec)
            self._route_agent(arec.agent.id)

    async def cancel(self, interaction_id: str, reason: str) -> InteractionRecord:
        """The customer left: release everyone holding or offered the interaction."""
        async with self.lock:
            self._check_available()
            rec = self._live(interaction_id)
            i = rec.interaction
            if i.state not in OPEN:
                raise FailedPrecondition(f"interaction {interaction_id!r} is {i.state.name}")
            now = self.clock()
            t = Transition(interactions=[rec])
            notices: list[tuple[NoticeType, str]] = []
            if rec.offer is not None:
                offered = self._agent(rec.offer.agent_id)
                self._add_load(offered, rec.offer.channel, -1)
                t.agents.append(offered)
                notices.append((NoticeType.OFFER_ENDED, offered.agent.id))
            if i.state == InteractionState.ASSIGNED:
                holder = self._agent(rec.agent_id)
                self._add_load(holder, i.channel, -1)
                t.agents.append(holder)
                notices.append((NoticeType.RELEASED, holder.agent.id))
            else:
                t.count("abandoned")
            self.engine.remove(interaction_id)
            i.state = InteractionState.CANCELLED
            rec.offer, rec.transfer = None, None
            t.events.append(self._event(rec, EventType.CANCELLED, reason=reason))
            self._submit(t)
            for a in t.agents:
                self._index_agent(a)
            for type, agent_id in notices:
                self._notify(type, agent_id, rec, now)
            for _, agent_id in notices:
                self._route_agent(agent_id)
            out = rec.snapshot()
        await self._durable()
        return out

    # --- time -----------------------------------------------------------------------------

    async def tick(self, rematch: bool) -> None:
        """Fire every timer that is due, then, if a relaxation step has started since the
        last look, re-run matching: relaxation makes agents eligible with time alone."""
        if not self.available:
            return
        async with self.lock:
            if not self.available:
                return
            while self._timers and self._timers[0][0] <= self.clock():
                due, _, kind, key = heapq.heappop(self._timers)
                self._fire(kind, key, due)
            if self._rematch_now:
                self._rematch_now = False
                self._match_all()
            if rematch:
                now = self.clock()
                if self._relax_stale:
                    self._relax_due = self.engine.core.next_relaxation_due(now)
                    self._relax_stale = False
                if self._relax_due is not None and self._relax_due <= now:
                    self._match_all()
                    self._relax_due = self.engine.core.next_relaxation_due(now)

    def _fire(self, kind: str, key: str, due: float) -> None:
        if kind == "offer":
            rec = self.open.get(key)
            if rec is not None and rec.offer is not None and rec.offer.expires_at == due:
                self._end_offer(rec, EventType.OFFER_EXPIRED, "no answer")
        elif kind == "wrap":
            rec = self.open.get(key)
            if (
                rec is not None
                and rec.interaction.state == InteractionState.WRAP_UP
                and rec.wrap_up_until == due
            ):
                self._finish_wrap_up(rec)
        elif kind == "agent_wrap":
            arec = self.agents.get(key)
            if (
                arec is not None
                and arec.agent.state == AgentState.WRAP_UP
                and arec.wrap_up_until == due
            ):
                self._set_state(arec, AgentState.AVAILABLE, "", self.clock())
                self._submit(Transition(agents=[arec]))
                self._index_agent(arec)
                self._route_agent(key)
