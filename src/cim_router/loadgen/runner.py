"""One load run: agents on WatchAssignments streams (or Session streams, `--session`),
customers arriving open-loop, each interaction followed from Enqueue to Complete or
Cancel. Agents accept, reject or let an offer expire (and make themselves available again
when the router set them NOT_READY for it); customers hang up, give a CSAT score at
Complete, come back, and name a queue."""

from __future__ import annotations

import asyncio
import math
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from time import perf_counter
from typing import IO, Any, TypeVar

import grpc

from cim_router._pb import router_pb2 as pb
from cim_router.client import AsyncRouterClient, Retry, RouterError
from cim_router.client.names import CHANNELS, ChannelLike
from cim_router.loadgen.arrivals import pace, poisson_offsets
from cim_router.loadgen.config import LoadConfig
from cim_router.loadgen.progress import Progress
from cim_router.loadgen.recorder import Recorder
from cim_router.loadgen.report import Outcome, build_report
from cim_router.loadgen.sessions import SessionCalls
from cim_router.loadgen.workload import AgentSpec, InteractionSpec, Offers, Workload

T = TypeVar("T")

PROBE_SKILL = "loadgen-probe"
UPSERTS_AT_ONCE = 64


@dataclass
class Customer:
    """One interaction as its customer and its agent see it."""

    spec: InteractionSpec
    offers: Offers  # the agents' answers to its offers, in order
    sent_at: float = 0.0  # perf_counter just before Enqueue was sent
    enqueued: bool = False
    offered: bool = False
    accepting: bool = False  # an Accept is in flight
    leaving: bool = False  # patience ran out; Cancel unless an Accept in flight wins
    answered_at: float | None = None
    agent_id: str = ""
    abandoned: bool = False
    completed: bool = False
    done: bool = False  # nothing more will happen to it
    timer: asyncio.TimerHandle | None = None


class LoadRun:
    """Drive one router with `config`; `await LoadRun(config).run()` returns the report."""

    client: AsyncRouterClient  # made in run(), on the event loop that runs it
    # The interactions' calls: the client's unary calls, or over sessions (--session).
    calls: AsyncRouterClient | SessionCalls

    def __init__(self, config: LoadConfig, *, progress_to: IO[str] | None = None) -> None:
        self.config = config
        self.workload = Workload(config)
        self.rec = Recorder()
        self.customers: dict[str, Customer] = {}
        self.capacity: dict[str, dict[ChannelLike, int]] = {}
        self.sent = 0
        self.skipped = 0  # arrivals not sent because max_in_flight calls were outstanding
        self.stream_events = 0
        self.last_ack = 0.0  # perf_counter of the last Enqueue acknowledged
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._probe_id = f"probe-{self.workload.run_id}"
        self._probe_seen: dict[int, asyncio.Event] = {}
        self._stream_errors: list[str] = []  # why a stream ended, as the router said
        self._progress = Progress(self, progress_to or sys.stderr) if config.progress else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False  # calls cut at the end are unfinished, not errors
        self.b = Behaviour()
        self._ignored: set[tuple[str, str]] = set()  # (interaction, agent) offers let expire

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def open_interactions(self) -> int:
        return sum(1 for c in self.customers.values() if not c.done)

    async def run(self) -> dict[str, Any]:
        self._loop = asyncio.get_running_loop()
        # Retries would hide errors and blur latencies: a load test wants to see both.
        cfg = self.config
        self.client = AsyncRouterClient(
            cfg.target,
            tenant=cfg.tenant,
            timeout=cfg.timeout,
            retry=Retry(attempts=1),
            token=cfg.token,
            tls=cfg.tls,
        )
        self.calls = self.client
        if cfg.session:
            self.calls = SessionCalls(self.client, cfg.stream_count, cfg.timeout)
        started = perf_counter()
        agents = self.workload.agents()
        for a in agents:
            self.capacity[a.id] = a.capacity
        streams: list[asyncio.Task[None]] = []
        try:
            n = self.config.stream_count
            groups = [agents[k::n] for k in range(n)]
            for k, group in enumerate(groups):
                self._probe_seen[k] = asyncio.Event()
                ids = [a.id for a in group] + [self._probe_id]
                streams.append(asyncio.create_task(self._watch(k, ids)))
            await self._probe()
            await self._upsert(agents)
            await self._create_queues()
            arrivals_started = perf_counter()
            if self._progress is not None:
                self._progress.start(arrivals_started)
            offsets = poisson_offsets(self.config.rate, self.workload.arrival_rng)
            await pace(
                offsets, self._arrive, duration=self.config.duration, count=self.config.count
            )
            arrivals_ended = perf_counter()
            if self._progress is not None:
                self._progress.draining(arrivals_ended)
            drained = await self._drain(arrivals_ended + self.config.grace)
            ended = perf_counter()
            unfinished = self._stop_all()
        finally:
            if self._progress is not None:
                self._progress.stop()
            for task in streams:
                task.cancel()
            await asyncio.gather(*streams, return_exceptions=True)
            self._stop_all()
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
            if isinstance(self.calls, SessionCalls):
                await self.calls.close()
            await self.client.close()
        outcome = Outcome(
            setup_seconds=arrivals_started - started,
            arrival_seconds=arrivals_ended - arrivals_started,
            ack_seconds=max(0.0, self.last_ack - arrivals_started),
            drain_seconds=ended - arrivals_ended,
            drained=drained,
            unfinished_calls=unfinished,
            busy_agent_seconds=self.rec.occupancy.busy_seconds(ended),
        )
        return build_report(self, outcome)

    # --- setup ----------------------------------------------------------------------------

    async def _upsert(self, agents: list[AgentSpec]) -> None:
        """Every agent AVAILABLE, a few calls at a time."""
        limit = asyncio.Semaphore(UPSERTS_AT_ONCE)

        async def one(a: AgentSpec) -> None:
            async with limit:
                await self.client.upsert_agent(
                    a.id, skills=a.skills, tier=a.tier, capacity=a.capacity, state="available"
                )

        await asyncio.gather(*(one(a) for a in agents))

    async def _create_queues(self) -> None:
        """The queues of the mix, made with UpsertQueue; a router that does not serve it
        (UNIMPLEMENTED) gets every Enqueue without a queue, and the report says so."""
        if not self.config.queues:
            return
        for queue_id in self.config.queues:
            try:
                await self.client.upsert_queue(queue_id, display_name=queue_id)
            except RouterError as exc:
                if exc.code != grpc.StatusCode.UNIMPLEMENTED:
                    raise
                self.b.queues_created = False
                self.b.queues_note = (
                    "the router does not serve UpsertQueue (UNIMPLEMENTED): "
                    "every Enqueue was sent without a queue"
                )
                return
        self.b.queues_created = True

    async def _probe(self) -> None:
        """Wait until every stream is subscribed: a server drops notices no stream wants.

        A probe agent on every stream is offered a probe interaction until each stream has
        seen the offer; then the probe is cancelled and its agent goes offline.
        """
        only_voice: dict[ChannelLike, int] = {name: 0 for name in CHANNELS.names()}
        only_voice["voice"] = 1
        await self.client.upsert_agent(
            self._probe_id, skills={PROBE_SKILL: 1}, capacity=only_voice, state="available"
        )
        deadline = perf_counter() + max(10.0, self.config.timeout)
        attempt = 0
        while True:
            probe = f"{self._probe_id}-{attempt}"
            await self.client.enqueue(probe, channel="voice", required={PROBE_SKILL: 1})
            waits = [asyncio.create_task(e.wait()) for e in self._probe_seen.values()]
            _, pending = await asyncio.wait(waits, timeout=0.5)
            for task in pending:
                task.cancel()
            await self.client.cancel(probe, reason="loadgen probe")
            if not pending:
                break
            if perf_counter() > deadline:
                why = f": {self._stream_errors[0]}" if self._stream_errors else ""
                raise RuntimeError(f"WatchAssignments streams did not start{why}")
            attempt += 1
        await self.client.set_agent_state(self._probe_id, "offline")

    # --- the stream -------------------------------------------------------------------------

    async def _watch(self, k: int, agent_ids: list[str]) -> None:
        calls = self.calls
        if isinstance(calls, SessionCalls):
            events = calls.follow(k, agent_ids)
        else:
            events = self.client.watch(agent_ids)
        try:
            async for event in events:
                self.stream_events += 1
                if event.type == pb.ASSIGNMENT_EVENT_TYPE_OFFERED:
                    self._offered(k, event, perf_counter())
                elif event.type == pb.ASSIGNMENT_EVENT_TYPE_OFFER_ENDED:
                    self._offer_ended(event)
        except RouterError as exc:
            self.rec.error("WatchAssignments", exc.code.name)
            self._stream_errors.append(f"{exc.code.name}: {exc}")

    def _offered(self, stream: int, event: pb.AssignmentEvent, now: float) -> None:
        iid = event.interaction.id
        if iid.startswith(self._probe_id):
            self._probe_seen[stream].set()
            return
        c = self.customers.get(iid)
        if c is None:
            return
        if not c.offered:
            c.offered = True
            self.rec.offer.append(now - c.sent_at)
        if c.done or c.leaving or c.accepting or c.answered_at is not None:
            return
        choice = c.offers.next()
        if choice == "accept":
            self._later(self.config.think_time, self._accept, c, event.agent_id)
        elif choice == "reject":
            self._later(self.config.think_time, self._reject, c, event.agent_id)
        else:
            self.b.left_to_expire += 1
            self._ignored.add((iid, event.agent_id))

    def _offer_ended(self, event: pb.AssignmentEvent) -> None:
        key = (event.interaction.id, event.agent_id)
        if key in self._ignored:
            self._ignored.discard(key)
            self._spawn(self._ready_again, event.agent_id)

    async def _ready_again(self, agent_id: str) -> None:
        """After an offer it let expire: back to AVAILABLE if the router set it NOT_READY."""
        agent = await self._call("GetAgent", lambda: self.calls.get_agent(agent_id))
        if agent is None or agent.state != pb.AGENT_STATE_NOT_READY:
            return
        ok = await self._call(
            "SetAgentState", lambda: self.calls.set_agent_state(agent_id, "available")
        )
        if ok is not None:
            self.b.made_ready += 1

    # --- one interaction --------------------------------------------------------------------

    def _arrive(self, n: int) -> None:
        # Drawn here, in order of arrival, skipped or not: the same seed, the same workload.
        spec = self.workload.interaction(n)
        if len(self._tasks) >= self.config.max_in_flight:
            self.skipped += 1
            return
        self._spawn(self._enqueue, spec)

    async def _enqueue(self, spec: InteractionSpec) -> None:
        c = Customer(spec, self.workload.offers(spec))
        self.customers[spec.id] = c
        self.sent += 1
        queue_id = spec.queue_id if self.b.queues_created else ""
        c.sent_at = perf_counter()
        ok = await self._call(
            "Enqueue",
            lambda: self.calls.enqueue(
                spec.id,
                channel=spec.channel,
                required={spec.skill: spec.min_level},
                customer_id=spec.customer_id,
                sla_seconds=self.config.sla_seconds,
                queue_id=queue_id,
            ),
        )
        if ok is None:
            c.done = True
            return
        c.enqueued = True
        self.last_ack = perf_counter()
        if not c.done and c.answered_at is None and math.isfinite(spec.patience):
            left = c.sent_at + spec.patience - perf_counter()
            assert self._loop is not None
            c.timer = self._loop.call_later(max(0.0, left), self._impatient, c)

    async def _accept(self, c: Customer, agent_id: str) -> None:
        if c.done or c.leaving or c.accepting or c.answered_at is not None:
            return
        c.accepting = True
        ok = await self._call("Accept", lambda: self.calls.accept(c.spec.id, agent_id))
        c.accepting = False
        if ok is None:
            if c.leaving:  # its patience ran out while the Accept was on its way
                await self._abandon(c)
            return
        now = perf_counter()
        c.answered_at, c.agent_id = now, agent_id
        if c.timer is not None:
            c.timer.cancel()
            c.timer = None
        self.rec.waits.append(now - c.sent_at)
        self.rec.occupancy.change(agent_id, self._share(c), now)
        self._later(c.spec.handle, self._complete, c)

    async def _reject(self, c: Customer, agent_id: str) -> None:
        if c.done or c.leaving or c.accepting or c.answered_at is not None:
            return
        ok = await self._call(
            "Reject", lambda: self.calls.reject(c.spec.id, agent_id, reason="loadgen")
        )
        if ok is not None:
            self.b.rejects += 1

    async def _complete(self, c: Customer) -> None:
        csat = c.spec.csat
        ok = await self._call(
            "Complete", lambda: self.calls.complete(c.spec.id, agent_id=c.agent_id, csat=csat)
        )
        self.rec.occupancy.change(c.agent_id, -self._share(c), perf_counter())
        c.completed = ok is not None
        c.done = True
        if c.completed and csat:
            self.b.csat[csat] += 1

    def _impatient(self, c: Customer) -> None:
        c.timer = None
        if c.done or c.answered_at is not None:
            return
        c.leaving = True
        if not c.accepting:  # else the Accept decides: refused, it cancels
            self._spawn(self._abandon, c)

    async def _abandon(self, c: Customer) -> None:
        ok = await self._call("Cancel", lambda: self.calls.cancel(c.spec.id, reason="left"))
        c.abandoned = ok is not None
        c.done = True

    def _share(self, c: Customer) -> float:
        """How much of its agent one interaction takes: 1 / capacity on its channel."""
        return 1.0 / max(1, self.capacity.get(c.agent_id, {}).get(c.spec.channel, 1))

    # --- calls, tasks and timers ------------------------------------------------------------

    async def _call(self, name: str, send: Callable[[], Awaitable[T]]) -> T | None:
        """The reply, its latency recorded; None, the error counted, if refused."""
        t0 = perf_counter()
        try:
            result = await send()
        except RouterError as exc:
            if not self._stopping:
                self.rec.error(name, exc.code.name)
            return None
        self.rec.call(name, perf_counter() - t0)
        return result

    def _spawn(self, fn: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> None:
        task = asyncio.create_task(fn(*args))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _later(
        self, delay: float, fn: Callable[..., Coroutine[Any, Any, None]], *args: Any
    ) -> None:
        assert self._loop is not None
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            self._spawn(fn, *args)

        handle = self._loop.call_later(delay, fire)
        self._timers.add(handle)

    async def _drain(self, deadline: float) -> bool:
        """Wait until every interaction is closed and no call is in flight, or `deadline`."""
        while self.open_interactions() or self._tasks:
            if perf_counter() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    def _stop_all(self) -> int:
        """Cancel timers and calls still pending; how many calls were."""
        self._stopping = True
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        for c in self.customers.values():
            if c.timer is not None:
                c.timer.cancel()
                c.timer = None
        pending = len(self._tasks)
        for task in list(self._tasks):
            task.cancel()
        return pending


@dataclass
class Behaviour:
    """What the agents' and customers' behaviours did in a run."""

    rejects: int = 0  # Reject calls the router took
    left_to_expire: int = 0  # offers the agents did not answer
    made_ready: int = 0  # agents set AVAILABLE again after the router set them NOT_READY
    csat: Counter[int] = field(default_factory=Counter)  # scores given at Complete
    queues_created: bool | None = None  # None: no queue mix
    queues_note: str = ""


async def run_load(config: LoadConfig, *, progress_to: IO[str] | None = None) -> dict[str, Any]:
    """Run `config` against its target; the report (see `report.build_report`)."""
    return await LoadRun(config, progress_to=progress_to).run()
