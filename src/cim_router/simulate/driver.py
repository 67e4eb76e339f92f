"""One simulated day: the tenant's own code (tenant/ over the in-memory store, on a manual
clock) driven by a scenario's customers and agents, one event at a time.

The loop merges two sources of events in time order: the scenario's (arrivals, customers
hanging up, agents answering offers and finishing work, shifts) and the router's own
timers (`Tenants.timers`: offer expiry, wrap-up, relaxation, overflow, rules). Each
scenario event is one call of a tenant operation, exactly as the service makes it; what
the router did in return (offers made, interactions answered, seats taken) is read off
each unit of work's transition, which the tenant hands to its observer as it commits.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Awaitable, Callable
from typing import Any

from cim_router.domain.agent import Agent, AgentState
from cim_router.domain.channel import Channel
from cim_router.domain.interaction import Interaction, InteractionState, SkillRequirement
from cim_router.domain.policy import Policy
from cim_router.simulate.baselines import RandomChoice
from cim_router.simulate.draws import AGENTS, AgentAnswers, Customer, customers, generator
from cim_router.simulate.figures import DayFigures
from cim_router.simulate.scenario import AgentGroup, Scenario
from cim_router.simulate.tracking import Agentry, Fate, duty, overlap, sum_tallies, waits
from cim_router.store.memory import MemoryStore
from cim_router.tenant import agents, interactions, transfers
from cim_router.tenant.clock import ManualClock
from cim_router.tenant.errors import ServiceError
from cim_router.tenant.measures import Tally
from cim_router.tenant.records import EventType, TransferMode, Transition
from cim_router.tenant.registry import Tenants
from cim_router.tenant.router import TenantRouter
from cim_router.tenant.tallies import BUCKET_SECONDS, parse_field

TENANT = "sim"
DAY_START = 1_699_920_000.0  # a UTC midnight: minute buckets and days line up
DRAIN_SECONDS = 24 * 3600.0  # after the last arrival, work in hand is finished within this
ARRIVE, ANSWER, ABANDON, COMPLETE, DUTY = range(5)


class WorkNotConserved(AssertionError):
    """An interaction waited while an agent eligible for it was free."""


class _Observer:
    """The tenant's observer: every committed transition goes through `transition`."""

    def __init__(self, day: Day) -> None:
        self.day = day

    def transition(self, tenant: str, t: Transition, now: float) -> None:
        self.day.on_transition(t, now)

    def decision(self, seconds: float) -> None:
        return None


class Day:
    """One replication of the scenario under one policy."""

    def __init__(
        self,
        scenario: Scenario,
        policy: Policy,
        seed: int,
        replication: int,
        random_choice: bool = False,
        check: bool = False,
        stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.scenario = scenario
        self.policy = policy
        self.check = check
        self.stop = stop
        self.random_choice = random_choice
        self.seed, self.replication = seed, replication
        self.clock = ManualClock(DAY_START)
        self.store = MemoryStore(keep_closed=False)
        self.tenants = Tenants(self.store, policy, self.clock, observer=_Observer(self))
        self.customers = customers(scenario, seed, replication)
        self.fates: dict[str, Fate] = {}
        self.events: list[tuple[float, int, int, Any]] = []
        self._seq = 0
        self.agents: dict[str, Agentry] = {}
        self.stale = 0
        self.checks = 0
        self.rejected = self.expired = 0  # offers the agents rejected, or let expire
        self.blocked = 0  # arrivals the router refused (a full queue)
        n = scenario.intervals
        self.step = scenario.interval_seconds
        self.window = (scenario.warmup_minutes * 60.0, scenario.duration_seconds)
        self.tallies = [Tally() for _ in range(n)]
        self.queue_tallies: dict[str, Tally] = {}  # queue -> after the warm-up, every channel
        self.busy_now = 0
        self.busy = [0.0] * n
        self.group_busy = [[0.0] * n for _ in scenario.agents]  # per group, per interval
        self.queue = [0.0] * n
        self._last = 0.0  # simulated seconds integrated so far
        self.router: TenantRouter | None = None
        self._channels = scenario.channels
        self._names: dict[str, tuple[str, str]] = {}  # tally field -> (queue, count name)

    # --- the tenant's news ----------------------------------------------------------------

    def on_transition(self, t: Transition, now: float) -> None:
        at = now - DAY_START
        for arec in t.agents:
            a = self.agents.get(arec.agent.id)
            if a is None:
                continue
            load = sum(arec.agent.load.values())
            if load != a.load:
                a.busy += a.load * overlap(a.since, at, *self.window)
                self._group_busy(a, at)
                self.busy_now += load - a.load
                a.load, a.since = load, at
        for e in t.events:
            if e.type == EventType.OFFERED:
                self._offered(e.interaction_id, e.agent_id, at)
            elif e.type == EventType.ACCEPTED:
                self._accepted(e.interaction_id, e.agent_id, at)
            elif e.type == EventType.REJECTED:
                self.rejected += 1
            elif e.type == EventType.OFFER_EXPIRED:
                self.expired += 1
            elif e.type == EventType.CANCELLED:
                # The customer hung up, or an overflow rule or the queue's maximum wait
                # ended the interaction: its wait ends here.
                fate = self.fates.get(e.interaction_id)
                if fate is not None and fate.answered_at is None and fate.left_at is None:
                    fate.left_at = at
        if t.tallies:
            self._tally(t.tallies)

    def _group_busy(self, a: Agentry, upto: float) -> None:
        """The agent's seats held since its last change, into its group's intervals."""
        if not a.load:
            return
        bins = self.group_busy[a.group]
        lo, hi = a.since, min(upto, self.scenario.duration_seconds)
        k = int(lo // self.step)
        while lo < hi and k < len(bins):
            end = min(hi, (k + 1) * self.step)
            bins[k] += a.load * (end - lo)
            lo, k = end, k + 1

    def _tally(self, counts: dict[tuple[int, str], float]) -> None:
        lo = self.window[0]
        last = len(self.tallies) - 1
        names = self._names
        for (bucket, name), n in counts.items():
            found = names.get(name)
            if found is None:
                parsed = parse_field(name)
                if parsed is None:
                    continue
                found = names[name] = (parsed[0], parsed[2])
            queue, count = found
            at = bucket * BUCKET_SECONDS - DAY_START
            k = min(last, max(0, int(at // self.step)))
            target = self.tallies[k]
            setattr(target, count, getattr(target, count) + n)
            if at >= lo - 1e-9:
                mine = self.queue_tallies.get(queue)
                if mine is None:
                    mine = self.queue_tallies[queue] = Tally()
                setattr(mine, count, getattr(mine, count) + n)

    def _offered(self, iid: str, agent_id: str, at: float) -> None:
        a = self.agents.get(agent_id)
        if a is None:
            return
        answer = a.answers.next()
        if answer == AgentAnswers.NO_ANSWER:
            return  # the router's offer timer ends it
        delay = self.scenario.agents[a.group].accept_delay_seconds
        self.push(at + delay, ANSWER, (iid, agent_id, answer, at + DAY_START))

    def _accepted(self, iid: str, agent_id: str, at: float) -> None:
        fate = self.fates.get(iid)
        a = self.agents.get(agent_id)
        if fate is None or a is None:
            return
        if fate.answered_at is None:
            fate.answered_at = at
        stream = self.scenario.arrivals[fate.customer.stream]
        if fate.transferred:  # the agent the call was transferred to
            mean = stream.transfer_handle_time_mean_seconds or stream.handle_time_mean_seconds
            work, skills = mean * fate.customer.unit_transfer_work, stream.transfer_required
        else:
            work = stream.handle_time_mean_seconds * fate.customer.unit_work
            skills = stream.required
        if stream.handle_time_by_level and skills:
            level = max(a.skills.get(s, 0) for s in skills)
            work *= stream.handle_time_by_level.get(level, 1.0)
        self.push(at + work, COMPLETE, (iid, agent_id))

    # --- the loop -------------------------------------------------------------------------

    def push(self, at: float, kind: int, key: Any) -> None:
        self._seq += 1
        heapq.heappush(self.events, (at, self._seq, kind, key))

    async def _op(self, fn: Callable[[TenantRouter], Awaitable[Any]]) -> bool:
        """One tenant operation, as the service calls it; False if the router refused it."""
        try:
            async with self.tenants.use(TENANT) as r:
                await fn(r)
        except ServiceError:
            self.stale += 1
            return False
        return True

    async def start(self) -> None:
        await self.store.start()
        await self.tenants.start(clock_task=False)
        async with self.tenants.use(TENANT) as r:
            self.router = r
            r.engine.on_decision = None  # the simulator times nothing
            if self.random_choice:
                rng = generator(self.seed, self.replication, len(self.scenario.arrivals), AGENTS)
                r.engine.core = RandomChoice(r.engine.core, rng)  # type: ignore[assignment]
            for g, group in enumerate(self.scenario.agents):
                for k in range(group.count):
                    await self._add_agent(r, g, group, k)
        for c in self.customers:
            self.push(c.at, ARRIVE, c)
        if any(g.count_by_interval for g in self.scenario.agents):
            for k in range(1, self.scenario.intervals):
                self.push(k * self.step, DUTY, k)

    async def _add_agent(self, r: TenantRouter, g: int, group: AgentGroup, k: int) -> None:
        agent_id = f"{group.name}-{k:05d}"
        capacity = {c: (group.capacity.get(c, 1) if c in self._channels else 0) for c in Channel}
        rng = generator(self.seed, self.replication, 1000 + g, k)
        self.agents[agent_id] = Agentry(
            agent_id,
            g,
            k,
            dict(group.skills),
            sum(capacity.values()),
            AgentAnswers(rng, group.reject_probability, group.no_answer_probability),
        )
        profile = Agent(agent_id, skills=dict(group.skills), tier=group.tier, capacity=capacity)
        state = AgentState.AVAILABLE if k < group.on_duty(0) else AgentState.OFFLINE
        await agents.upsert_agent(r, profile, state)

    def _integrate(self, upto: float) -> None:
        """Seats held and interactions waiting, from the last event to `upto` (within the
        day: the drain after it is not part of any interval's figures)."""
        last = self._last
        if upto <= last:
            return
        self._last = upto
        upto = min(upto, self.scenario.duration_seconds)
        if upto <= last:
            return
        r = self.router
        assert r is not None
        waiting = r.engine.core.waiting_count()
        busy = self.busy_now
        n = len(self.busy)
        k = min(n - 1, int(last // self.step))
        t = last
        while t < upto:
            end = upto if k == n - 1 else min(upto, (k + 1) * self.step)
            self.busy[k] += busy * (end - t)
            self.queue[k] += waiting * (end - t)
            t = end
            k += 1

    async def run(self) -> DayFigures:
        await self.start()
        await self.advance(self.scenario.duration_seconds + DRAIN_SECONDS)
        return self._figures()

    async def advance(self, cap: float) -> None:
        """Simulate until `cap` seconds into the day, or until nothing is left to do."""
        timers = self.tenants.timers
        while not self.stop():
            due = timers.next_due()
            at_timer = math.inf if due is None else due - DAY_START
            at_event = self.events[0][0] if self.events else math.inf
            at = min(at_timer, at_event)
            if at == math.inf or at > cap or (not self.events and not self._busy_left()):
                break
            self._integrate(at)
            self.clock.set(max(self.clock(), at + DAY_START))
            if at_timer <= at_event:
                await self.tenants.fire_due()
            else:
                _, _, kind, key = heapq.heappop(self.events)
                await self._handle(kind, key)
            if self.check:
                # After every event, once the router's own timers due by now have fired
                # (a relaxation step due now makes agents eligible only when it fires).
                due = timers.next_due()
                if due is None or due > self.clock():
                    self.check_conservation()

    def _busy_left(self) -> bool:
        r = self.router
        return r is not None and any(
            rec.interaction.state != InteractionState.WRAP_UP for rec in r.open.values()
        )

    async def _handle(self, kind: int, key: Any) -> None:
        if kind == ARRIVE:
            await self._arrive(key)
        elif kind == ANSWER:
            iid, agent_id, answer, offered_at = key
            r = self.router
            assert r is not None
            rec = r.open.get(iid)
            if rec is None or rec.offer is None or rec.offer.agent_id != agent_id:
                return
            if rec.offer.offered_at != offered_at:
                return  # an earlier offer's answer
            if answer == AgentAnswers.ACCEPT:
                await self._op(lambda r: interactions.accept(r, iid, agent_id))
            else:
                await self._op(lambda r: interactions.reject(r, iid, agent_id, ""))
        elif kind == COMPLETE:
            await self._complete(*key)
        elif kind == ABANDON:
            await self._abandon(key)
        elif kind == DUTY:
            await self._duty(key)

    async def _arrive(self, c: Customer) -> None:
        stream = self.scenario.arrivals[c.stream]
        self.fates[c.id] = Fate(c, self.clock() - DAY_START, measured=c.at >= self.window[0])
        i = Interaction(
            c.id,
            stream.channel,
            required=tuple(SkillRequirement(s, n) for s, n in stream.required.items()),
            priority=stream.priority,
            queue_id=stream.queue,
        )
        if not await self._op(lambda r: interactions.enqueue(r, i, b"")):
            # Refused (a full queue): the customer never got in line.
            del self.fates[c.id]
            self.stale -= 1
            self.blocked += 1
            return
        if math.isfinite(c.patience):
            self.push(c.at + c.patience, ABANDON, c.id)

    async def _complete(self, iid: str, agent_id: str) -> None:
        """The agent's part ends: the call is done, or the agent transfers it (once)."""
        fate = self.fates[iid]
        stream = self.scenario.arrivals[fate.customer.stream]
        if not fate.transferred and fate.customer.transfer_draw < stream.transfer_probability:
            fate.transferred = True
            mode = TransferMode.WARM if stream.transfer_mode == "warm" else TransferMode.COLD
            needs = tuple(SkillRequirement(s, n) for s, n in stream.transfer_required.items())
            await self._op(lambda r: transfers.transfer(r, iid, mode, "", needs, None, ""))
            return
        await self._op(lambda r: interactions.complete(r, iid, agent_id, "", 0))

    async def _abandon(self, iid: str) -> None:
        r = self.router
        assert r is not None
        rec = r.open.get(iid)
        if rec is None or rec.answered:
            return
        if rec.interaction.state not in (InteractionState.QUEUED, InteractionState.OFFERED):
            return
        await self._op(lambda r: interactions.cancel(r, iid, ""))

    async def _duty(self, k: int) -> None:
        r = self.router
        assert r is not None
        for a in self.agents.values():
            on = a.index < self.scenario.agents[a.group].on_duty(k)
            state = r.agent(a.id).agent.state
            if on and state in (AgentState.OFFLINE, AgentState.NOT_READY):
                target = AgentState.AVAILABLE
            elif not on and state in (AgentState.AVAILABLE, AgentState.WRAP_UP):
                # Held work is finished; NOT_READY takes no more.
                target = AgentState.OFFLINE if a.load == 0 else AgentState.NOT_READY
            else:
                continue
            await self._set_state(a.id, target)

    async def _set_state(self, agent_id: str, state: AgentState) -> None:
        await self._op(lambda r: agents.set_agent_state(r, agent_id, state, ""))

    def check_conservation(self) -> None:
        """No interaction waits while an agent the engine finds eligible for it is free
        (the engine's own eligibility: Explain's count, relaxation and gates included)."""
        r = self.router
        assert r is not None
        self.checks += 1
        now = self.clock()
        engine = r.engine
        for iid in engine.queue_order(now):
            if engine.explain(iid, now).eligible:
                raise WorkNotConserved(
                    f"{iid} waits at {now - DAY_START:.3f}s while an eligible agent is free"
                )

    # --- the figures ----------------------------------------------------------------------

    def _figures(self) -> DayFigures:
        s = self.scenario
        end = self._last
        for a in self.agents.values():
            a.busy += a.load * overlap(a.since, end, *self.window)
            self._group_busy(a, end)
            a.since = end
        w = waits(self.fates.values(), s.intervals, self.step, end, [st.queue for st in s.arrivals])
        d = duty(s, self.agents.values(), self.window)
        return DayFigures(
            intervals=s.intervals,
            tallies=self.tallies,
            measured=sum_tallies(self.queue_tallies.values()),
            waited=w.waited,
            outcomes=w.outcomes,
            max_wait=w.max_wait,
            busy=self.busy,
            staffed=d.staffed,
            queue=self.queue,
            interval_seconds=self.step,
            group_busy=d.group_busy,
            group_staffed=d.group_staffed,
            agent_occupancy=d.occupancy,
            busy_by_group=self.group_busy,
            staffed_by_group=d.staffed_by_group,
            interactions=w.count,
            total_waited=w.total_waited,
            total_outcomes=w.total_outcomes,
            total_max_wait=w.total_max,
            queue_tallies=self.queue_tallies,
            queue_max_wait=w.queue_max,
            simulated_seconds=end,
            stale=self.stale,
            rejected=self.rejected,
            blocked=self.blocked,
            expired=self.expired,
            checks=self.checks,
        )


async def simulate_day(
    scenario: Scenario,
    policy: Policy,
    seed: int,
    replication: int,
    random_choice: bool = False,
    check: bool = False,
    stop: Callable[[], bool] = lambda: False,
) -> DayFigures:
    """Simulate one day; `stop` ends it early (what was simulated so far is returned)."""
    day = Day(scenario, policy, seed, replication, random_choice, check, stop)
    try:
        return await day.run()
    finally:
        await day.tenants.stop()
