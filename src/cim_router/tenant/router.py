"""One tenant's live state, its routing index, and the one way to change them.

A `TenantRouter` holds the tenant's agents and open interactions in memory and is their
only writer; the store holds the truth it is rebuilt from. Every change runs as one unit
of work (`mutate`): under the tenant lock, with the store available, the operation
changes records and registers them (`put`, `put_agent`, `event`, `count`, `notify`); the
unit then submits everything as one `Transition`, atomic in the store, releases the lock,
and answers once the store says the change is durable. Watchers are told only then.

The operations built on this (interactions, offers, agents, transfers, pull, reports,
loading) use only the public names here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import NamedTuple, TypeVar
from zoneinfo import ZoneInfo

from cim_router.domain.agent import AgentState
from cim_router.domain.channel import Channel
from cim_router.domain.interaction import InteractionState
from cim_router.domain.policy import Policy
from cim_router.domain.queues import (
    DEFAULT_QUEUE,
    MAX_QUEUE_PRIORITY,
    Membership,
    Queue,
    ServiceLevelTarget,
)
from cim_router.routing.engine import Engine
from cim_router.tenant.caller import current_caller
from cim_router.tenant.clock import Clock
from cim_router.tenant.errors import AlreadyExists, FailedPrecondition, NotFound, Unavailable
from cim_router.tenant.ports import Observer, Store
from cim_router.tenant.records import (
    AgentRecord,
    CustomerRecord,
    Event,
    EventType,
    InteractionRecord,
    RequestKey,
    RequestOutcome,
    Transition,
)
from cim_router.tenant.requests import RequestLog
from cim_router.tenant.tallies import Tallies, bucket_of, field_name
from cim_router.tenant.timers import Due, Timers
from cim_router.tenant.watch import Hub, Notice, NoticeType

T = TypeVar("T")
log = logging.getLogger(__name__)

RECENTLY_CLOSED = 10_000  # closed interactions kept in memory for quick reads
RECENT_CUSTOMERS = 100_000  # customer records written since the load, kept in memory
OPEN = (InteractionState.QUEUED, InteractionState.OFFERED, InteractionState.ASSIGNED)
LIVE = (*OPEN, InteractionState.WRAP_UP)


DEFAULT_TARGET = ServiceLevelTarget()


class QueueClock(NamedTuple):
    """What the measures need of a queue: its service-level target and its time zone."""

    sla_seconds: float
    zone: ZoneInfo


class TenantRouter:
    """Routing and lifecycle state of one tenant."""

    def __init__(
        self,
        tenant: str,
        store: Store,
        policy: Policy,
        clock: Clock,
        timers: Timers,
        observer: Observer | None = None,
        request_seconds: float = 3600.0,
    ) -> None:
        self.tenant = tenant
        self.store = store
        self.policy = policy
        self.clock = clock
        self.timers = timers
        self.observer = observer
        self.lock = asyncio.Lock()
        self.hub = Hub()
        self.available = False  # False until loaded, and while the store is down
        self.persisted = False  # whether the store's tenant set holds this tenant
        self.users = 0  # calls in flight (an unpersisted tenant is dropped when idle)
        self.generation = 0  # counts loads; timers of an earlier load are ignored
        self.requests = RequestLog(request_seconds)
        self.on_poisoned: Callable[[TenantRouter], None] = lambda router: None
        self._tx: Transition | None = None
        self._notices: list[Notice] = []
        self.reset()

    def reset(self) -> None:
        """Empty state and index, as before a load."""
        self.generation += 1
        self.engine = Engine(self.policy, self.observer.decision if self.observer else None)
        self.agents: dict[str, AgentRecord] = {}
        self.open: dict[str, InteractionRecord] = {}
        self.closed: OrderedDict[str, InteractionRecord] = OrderedDict()
        self.counters: dict[str, int] = {}
        self.quarantined: dict[str, str] = {}  # record key -> why it could not be loaded
        # Interactions in wrap-up, by their agent: the agent is free once none is left.
        self.wrapping: dict[str, set[str]] = {}
        # Customers written since the load: newer than what a read before the lock found.
        self.customers: OrderedDict[str, CustomerRecord] = OrderedDict()
        self.arrivals = 0
        self.seq = 0  # this tenant's latest submission: what reads wait for
        self._outbox: deque[tuple[int, Notice]] = deque()
        # Capacity of agents that are not OFFLINE, for the wait estimate.
        self._staffed: dict[str, dict[Channel, int]] = {}
        self.seats: dict[Channel, int] = {}  # their sum per channel, kept as they change
        self.tallies = Tallies()  # the measures' counts, per queue and channel, by minute
        # Agents with a routing profile (the others serve every queue, with no delay).
        self.profiled: dict[str, Mapping[str, Membership]] = {}
        self._delays: dict[str, set[float]] = {}  # queue id -> its profiles' delays
        # The tenant's queues: "default", the policy's, then the stored ones over them.
        self.queues: dict[str, Queue] = {DEFAULT_QUEUE: Queue(DEFAULT_QUEUE), **self.policy.queues}
        self.in_queue: dict[str, set[str]] = {}  # queue id -> its live interactions' ids
        self._queue_of: dict[str, str] = {}  # live interaction id -> its queue
        self.hours_due: dict[str, float] = {}  # queue id -> its next HOURS timer

    # --- the unit of work -----------------------------------------------------------------

    def check_available(self) -> None:
        if not self.available:
            raise Unavailable("store unavailable: redis is unreachable or reloading")

    async def mutate(
        self,
        apply: Callable[[], T],
        request: RequestKey | None = None,
        replay: Callable[[RequestOutcome], Awaitable[T]] | None = None,
        entity: str | Callable[[T], str] = "",
        created: Callable[[T], bool] | None = None,
        record_noop: bool = True,
    ) -> T:
        """Run `apply` as one unit of work and answer once its change is durable.

        With a request id, a call the store already holds the outcome of is not applied
        again: `replay` answers it from that outcome (`entity` and `created` are what the
        outcome keeps; either may be read off the result). A call that changed nothing (an
        Enqueue repeated) still records its outcome, so that its id cannot be reused for
        another request, unless `record_noop` is False (a first look that may be followed
        by the real change under the same id). `apply` must check everything before it
        changes anything."""
        if request is not None:
            assert replay is not None
            found = await self._known_request(request)
            if found is not None:
                return await self._replay(request, found, replay)
        async with self.lock:
            self.check_available()
            hit = None if request is None else self.requests.get(request.id)
            if hit is None:
                tx = self._begin()
                try:
                    out = apply()
                    if request is not None and (tx or record_noop):
                        made = created(out) if created is not None else False
                        acted_on = entity if isinstance(entity, str) else entity(out)
                        tx.request = RequestOutcome(
                            request.id, request.method, request.digest, acted_on, made
                        )
                except BaseException:
                    self._abort(tx)
                    raise
                self._end(tx)
            seq = self.seq
        if hit is not None:
            assert request is not None and replay is not None
            return await self._replay(request, hit, replay)
        await self.store.durable(seq)
        return out

    async def _known_request(self, request: RequestKey) -> tuple[RequestOutcome, int] | None:
        self.check_available()
        found = self.requests.get(request.id)
        if found is None and self.requests.must_ask_store(self.clock()):
            stored = await self.store.read_request(self.tenant, request.id)
            if stored is not None:
                found = (stored, 0)
        return found

    async def _replay(
        self,
        request: RequestKey,
        found: tuple[RequestOutcome, int],
        replay: Callable[[RequestOutcome], Awaitable[T]],
    ) -> T:
        outcome, seq = found
        if outcome.method != request.method or outcome.digest != request.digest:
            raise AlreadyExists(f"x-cim-request-id: {request.id!r} was used for another request")
        await self.store.durable(seq)  # the first call's change, if it is still in flight
        return await replay(outcome)

    async def read(self) -> None:
        """Wait until every change this tenant has made is durable: a read then shows
        nothing a crash could take back."""
        self.check_available()
        await self.store.durable(self.seq)

    @contextlib.contextmanager
    def unit(self) -> Iterator[Transition]:
        """Collect one unit's writes and submit them as one transition (lock held).

        If the body fails after it changed something, the live state is no longer what
        the store holds: the tenant stops serving until it is reloaded."""
        tx = self._begin()
        try:
            yield tx
        except BaseException:
            self._abort(tx)
            raise
        self._end(tx)

    def _begin(self) -> Transition:
        assert self._tx is None, "units of work do not nest"
        self._tx = tx = Transition()
        return tx

    def _abort(self, tx: Transition) -> None:
        self._tx = None
        dirty = bool(tx) or bool(self._notices)
        self._notices.clear()
        if dirty:
            self.poison("a change failed halfway")

    def _end(self, tx: Transition) -> None:
        self._tx = None
        self._commit(tx)

    def poison(self, why: str) -> None:
        """Stop serving this tenant until it is reloaded from the store."""
        log.error("tenant state is inconsistent: %s; reloading", why, extra={"tenant": self.tenant})
        self.available = False
        self._outbox.clear()
        self.on_poisoned(self)

    def _commit(self, tx: Transition) -> None:
        notices, self._notices = self._notices, []
        if not tx:
            return
        tx.interactions = list({r.id: r for r in tx.interactions}.values())
        tx.agents = list({a.agent.id: a for a in tx.agents}.values())
        tx.customers = list({c.customer_id: c for c in tx.customers}.values())
        if not self.persisted:
            tx.new_tenant = self.persisted = True
        for rec in tx.interactions:
            self._place(rec)
        self.seq = self.store.submit(self.tenant, tx, tx.create)
        now = self.clock()
        if tx.request is not None:
            self.requests.remember(tx.request, self.seq, now)
        for notice in notices:
            self._outbox.append((self.seq, notice))
        if self.observer is not None:
            self.observer.transition(self.tenant, tx, now)

    @property
    def tx(self) -> Transition:
        """The open unit's transition."""
        assert self._tx is not None, "not in a unit of work"
        return self._tx

    # --- what a unit registers ------------------------------------------------------------

    def put(self, rec: InteractionRecord) -> InteractionRecord:
        """Register a changed (or new) interaction; returns it."""
        self.tx.interactions.append(rec)
        self._place(rec)
        return rec

    def put_agent(self, arec: AgentRecord) -> AgentRecord:
        self.tx.agents.append(arec)
        self.agents[arec.agent.id] = arec
        return arec

    def put_queue(self, queue: Queue) -> None:
        self.tx.queues.append(queue)
        new = queue.id not in self.queues
        self.queues[queue.id] = queue
        if new:
            self.index_unprofiled()

    def remove_queue_record(self, queue_id: str) -> None:
        self.tx.removed_queues.append(queue_id)
        self.queues.pop(queue_id, None)

    def remove_agent_record(self, agent_id: str) -> None:
        self.tx.removed_agents.append(agent_id)
        self.agents.pop(agent_id, None)
        self.engine.remove_agent(agent_id)
        if self.profiled.pop(agent_id, None) is not None:
            self._delays.clear()
        self.unstaff(agent_id)

    def put_customer(self, customer: CustomerRecord) -> None:
        self.tx.customers.append(customer)
        self.customers[customer.customer_id] = customer
        self.customers.move_to_end(customer.customer_id)
        if len(self.customers) > RECENT_CUSTOMERS:
            self.customers.popitem(last=False)

    def event(
        self,
        rec: InteractionRecord,
        type: EventType,
        agent_id: str = "",
        reason: str = "",
        channel: Channel | None = None,
        queue_id: str = "",
        rule: str = "",
    ) -> None:
        channel = rec.interaction.channel if channel is None else channel
        caller = current_caller.get()
        self.tx.events.append(
            Event(self.clock(), type, rec.id, channel, agent_id, reason, caller, queue_id, rule)
        )

    def count(self, name: str) -> None:
        self.tx.count(name)
        self.counters[name] = self.counters.get(name, 0) + 1

    def tally(self, queue: str, channel: Channel, name: str, n: float = 1) -> None:
        """Count `n` towards `name` of the queue and channel, in this minute's bucket."""
        bucket = bucket_of(self.clock())
        self.tallies.add(bucket, (queue, channel), name, n)
        self.tx.tally(bucket, field_name(queue, channel, name), n)

    def queue_clock(self, queue_id: str, channel: Channel) -> QueueClock:
        """The queue's service-level target for `channel` and time zone (where "today"
        starts); the policy's where the queue leaves them at their defaults, or is gone."""
        queue = self.queues.get(queue_id)
        sla, zone = self.policy.sla_seconds[channel], self.policy.time_zone
        if queue is not None:
            if queue.service_level != DEFAULT_TARGET:
                sla = queue.service_level.seconds
            if not queue.hours.always:
                zone = queue.hours.time_zone
        return QueueClock(sla, ZoneInfo(zone))

    def notify(self, type: NoticeType, agent_id: str, rec: InteractionRecord) -> None:
        """Tell `agent_id`'s watchers, once this unit's change is durable."""
        if self.hub.wants(agent_id):
            self._notices.append(Notice(type, agent_id, rec.snapshot(), self.clock()))

    def at(self, due: float, kind: Due, key: str = "") -> None:
        """Ask for `kind` to fire for `key` at `due` (in this tenant's current load)."""
        self.timers.at(due, self, self.generation, kind, key)

    def _place(self, rec: InteractionRecord) -> None:
        self.index_wrap_up(rec)
        if rec.interaction.state in LIVE:
            self.open[rec.id] = rec
            self.closed.pop(rec.id, None)
            self.track_queue(rec)
            return
        self.open.pop(rec.id, None)
        self.untrack_queue(rec.id)
        self.closed[rec.id] = rec
        self.closed.move_to_end(rec.id)
        if len(self.closed) > RECENTLY_CLOSED:
            self.closed.popitem(last=False)

    def track_queue(self, rec: InteractionRecord) -> None:
        """Keep `in_queue` in step with a live interaction's queue."""
        queue_id = rec.interaction.queue_id
        was = self._queue_of.get(rec.id)
        if was == queue_id:
            return
        if was is not None:
            self.untrack_queue(rec.id)
        self._queue_of[rec.id] = queue_id
        self.in_queue.setdefault(queue_id, set()).add(rec.id)

    def untrack_queue(self, interaction_id: str) -> None:
        was = self._queue_of.pop(interaction_id, None)
        if was is not None:
            members = self.in_queue[was]
            members.discard(interaction_id)
            if not members:
                del self.in_queue[was]

    def index_wrap_up(self, rec: InteractionRecord) -> None:
        """Keep `wrapping` in step with `rec`'s state."""
        if not rec.agent_id:
            return
        held = self.wrapping.get(rec.agent_id)
        if rec.interaction.state == InteractionState.WRAP_UP:
            if held is None:
                held = self.wrapping[rec.agent_id] = set()
            held.add(rec.id)
        elif held is not None:
            held.discard(rec.id)
            if not held:
                del self.wrapping[rec.agent_id]

    # --- the store's news -----------------------------------------------------------------

    def on_durable(self, seq: int) -> None:
        """Deliver the notices of changes now stored."""
        while self._outbox and self._outbox[0][0] <= seq:
            self.hub.deliver(self._outbox.popleft()[1])

    def on_lost(self) -> None:
        self.available = False
        self._outbox.clear()

    # --- lookups --------------------------------------------------------------------------

    def agent(self, agent_id: str) -> AgentRecord:
        found = self.agents.get(agent_id)
        if found is None:
            raise NotFound(f"agent {agent_id!r} not found")
        return found

    def live(self, interaction_id: str) -> InteractionRecord:
        """An interaction that is not closed; NotFound or FailedPrecondition otherwise."""
        found = self.open.get(interaction_id)
        if found is not None:
            return found
        closed = self.closed.get(interaction_id)
        if closed is not None:
            state = closed.interaction.state.name
            raise FailedPrecondition(f"interaction {interaction_id!r} is {state}")
        raise NotFound(f"interaction {interaction_id!r} not found")

    async def interaction(self, interaction_id: str) -> InteractionRecord:
        """Any interaction: open, recently closed, or read from the store."""
        found = self.open.get(interaction_id) or self.closed.get(interaction_id)
        if found is None:
            found = await self.store.read_interaction(self.tenant, interaction_id)
        if found is None:
            raise NotFound(f"interaction {interaction_id!r} not found")
        return found

    # --- the routing index ----------------------------------------------------------------

    def index_agent(self, arec: AgentRecord) -> None:
        agent = arec.agent
        self.engine.upsert_agent(agent, self.gates_of(agent.routing_profile))
        if self.profiled.get(agent.id) is not agent.routing_profile:
            self._delays.clear()  # a profile changed: the delays are gathered again
            if agent.routing_profile:
                self.profiled[agent.id] = agent.routing_profile
            else:
                self.profiled.pop(agent.id, None)
        self.unstaff(agent.id)
        if agent.state != AgentState.OFFLINE:
            self._staffed[agent.id] = capacity = dict(agent.capacity)
            for channel, n in capacity.items():
                self.seats[channel] = self.seats.get(channel, 0) + n

    def gates_of(self, profile: Mapping[str, Membership]) -> dict[str, tuple[int, float]]:
        """A routing profile as the core's gates: queue id -> (rank, delay); rank 1 is
        served first (profile priority 10). An empty profile serves every queue alike."""
        if not profile:
            return {queue_id: (1, 0.0) for queue_id in self.queues}
        top = MAX_QUEUE_PRIORITY + 1
        return {q: (top - m.priority, m.delay_seconds) for q, m in profile.items()}

    def gate_delays(self, queue_id: str) -> set[float]:
        """The delays of the agents whose profile has `queue_id`, those above 0."""
        found = self._delays.get(queue_id)
        if found is None:
            found = self._delays[queue_id] = {
                m.delay_seconds
                for profile in self.profiled.values()
                if (m := profile.get(queue_id)) is not None and m.delay_seconds > 0
            }
        return found

    def index_unprofiled(self) -> None:
        """Index agents without a profile again after a queue is added: they serve it too."""
        for arec in self.agents.values():
            if not arec.agent.routing_profile:
                self.engine.upsert_agent(arec.agent, self.gates_of({}))

    def unstaff(self, agent_id: str) -> None:
        for channel, n in self._staffed.pop(agent_id, {}).items():
            self.seats[channel] -= n
