"""The plumbing of a storm: many grpc.aio clients of one server on one event loop, every
answer and watch event checked as it arrives (the moves are in races.py)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import grpc
import grpc.aio

from cim_router._pb import router_pb2 as pb
from cim_router._pb import router_pb2_grpc
from cim_router.domain.policy import Policy
from tests.service.conftest import Running

if TYPE_CHECKING:
    from cim_router._pb.router_pb2_grpc import RouterAsyncStub
from tests.service.race_checks import (
    AVAILABLE,
    CALL_TIMEOUT,
    DEFAULTS,
    METADATA,
    REFUSALS,
    SKILLS,
    TENANT,
    Code,
    Req,
    Resp,
    agent_problems,
    capacities,
    interaction_problems,
    text,
    wire_channels,
)

S = TypeVar("S", bound="StormBase")


# --- the storm: many clients at once ------------------------------------------------------


@dataclass
class Outcome(Generic[Resp]):
    """A call's answer, or the status it was refused with."""

    value: Resp | None
    code: grpc.StatusCode
    details: str = ""

    @property
    def ok(self) -> bool:
        return self.code == Code.OK


class StormBase:
    """Clients of one server, each its own channel, on one event loop; what they saw."""

    def __init__(self, running: Running, policy: Policy, seed: str, clients: int = 8) -> None:
        self.running = running
        self.policy = policy
        self.seed = seed
        self.exclusive = wire_channels(policy.exclusive_channels)
        self.n_clients = clients
        self.tally: Counter[tuple[str, str]] = Counter()
        self.failures: list[str] = []  # calls that failed as no call may
        self.violations: list[str] = []  # snapshots and answers that must not be
        self.known: dict[str, pb.Interaction] = {}  # the latest answer about each
        self.requests: dict[str, pb.EnqueueRequest] = {}  # every interaction created
        self.profiles: dict[str, pb.UpsertAgentRequest] = {}
        self.agents: dict[str, pb.Agent] = {}  # the latest answer about each
        self.left: set[str] = set()  # agents that were removed (and hired again) at times
        self.stubs: list[RouterAsyncStub] = []
        self._channels: list[grpc.aio.Channel] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._serial = 0

    async def __aenter__(self: S) -> S:
        for _ in range(self.n_clients):
            channel = grpc.aio.insecure_channel(self.running.server.address)
            self._channels.append(channel)
            self.stubs.append(router_pb2_grpc.RouterStub(channel))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.drain()
        for channel in self._channels:
            await channel.close(None)

    def rng(self, name: str) -> random.Random:
        """The choices of one client (or one part of the storm), from the seed."""
        return random.Random(f"{self.seed}:{name}")

    def stub(self, rng: random.Random) -> RouterAsyncStub:
        return rng.choice(self.stubs)

    # --- calls and what they answer -------------------------------------------------------

    async def call(
        self,
        rpc: grpc.aio.UnaryUnaryMultiCallable[Req, Resp],
        request: Req,
        *,
        waiting: bool = False,
        timeout: float = CALL_TIMEOUT,
    ) -> Outcome[Resp]:
        name = type(request).__name__.removesuffix("Request")
        try:
            value = await rpc(request, timeout=timeout, metadata=METADATA)
        except grpc.aio.AioRpcError as exc:
            code, details = exc.code(), exc.details() or ""
            self.tally[name, code.name] += 1
            if code not in REFUSALS and not (waiting and code == Code.DEADLINE_EXCEEDED):
                self.failures.append(f"{name}({text(request)}): {code.name}: {details}")
            return Outcome(None, code, details)
        self.tally[name, "OK"] += 1
        self.observe(value)
        return Outcome(value, Code.OK)

    def observe(self, value: object) -> None:
        if isinstance(value, pb.Interaction):
            self.seen(value)
        elif isinstance(value, pb.EnqueueResponse) or (
            isinstance(value, pb.AssignResponse) and value.HasField("interaction")
        ):
            self.seen(value.interaction)
        elif isinstance(value, pb.Agent):
            self.seen_agent(value)
        elif isinstance(value, pb.ListAgentsResponse):
            for agent in value.agents:
                self.seen_agent(agent)

    def seen(self, i: pb.Interaction) -> None:
        self.violations += interaction_problems(i)
        self.known[i.id] = i

    def seen_agent(self, a: pb.Agent) -> None:
        self.violations += agent_problems(a, self.exclusive)
        self.agents[a.id] = a

    def expect(self, holds: bool, what: str) -> None:
        if not holds:
            self.violations.append(what)

    def refused(self, out: Outcome[Any], what: str, agent_id: str = "") -> None:
        """A refusal of a well-formed call: the state forbids it (FAILED_PRECONDITION),
        or the agent it names was removed for a while (NOT_FOUND)."""
        if out.ok:
            return
        gone = out.code == Code.NOT_FOUND and agent_id in self.left
        self.expect(
            out.code == Code.FAILED_PRECONDITION or gone,
            f"{what}: {out.code.name} ({out.details})",
        )

    # --- background work ------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks))

    async def until(self, predicate: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.01)

    def watchers(self) -> int:
        """Open WatchAssignments streams of the tenant, as the server counts them."""
        router = self.running.server.tenants.find(TENANT)
        return 0 if router is None else router.hub.count("WatchAssignments")

    async def watch(self, on_event: Callable[[pb.AssignmentEvent], None] | None = None) -> None:
        """Follow every agent's assignments until cancelled. The stream must never show an
        interaction offered while an offer of it is open, nor assigned while another
        agent holds it."""
        call = self.stubs[0].WatchAssignments(pb.WatchAssignmentsRequest(), metadata=METADATA)
        offered: dict[str, str] = {}  # interaction -> the agent its open offer is to
        holders: dict[str, str] = {}
        try:
            async for event in call:
                self.follow(event, offered, holders)
                if on_event is not None:
                    on_event(event)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != Code.CANCELLED:
                self.failures.append(f"WatchAssignments: {exc.code().name}: {exc.details()}")
        finally:
            call.cancel()

    def follow(
        self, event: pb.AssignmentEvent, offered: dict[str, str], holders: dict[str, str]
    ) -> None:
        """One event of the stream, against the offers and holders it showed so far (an
        offer or holder from before the stream opened is not known, and not checked)."""
        i, agent_id, kind = event.interaction, event.agent_id, event.type
        self.seen(i)
        where = f"watch: {pb.AssignmentEventType.Name(kind)} of {i.id} to {agent_id}"
        if kind == pb.ASSIGNMENT_EVENT_TYPE_OFFERED:
            other = offered.setdefault(i.id, agent_id)
            self.expect(other == agent_id, f"{where}, while its offer to {other} is open")
            offered[i.id] = agent_id
            self.expect(i.offer.agent_id == agent_id, f"{where}: {text(i)}")
        elif kind in (pb.ASSIGNMENT_EVENT_TYPE_OFFER_ENDED, pb.ASSIGNMENT_EVENT_TYPE_ASSIGNED):
            other = offered.pop(i.id, agent_id)
            self.expect(other == agent_id, f"{where}, while its open offer is to {other}")
        if kind == pb.ASSIGNMENT_EVENT_TYPE_ASSIGNED:
            held = holders.setdefault(i.id, agent_id)
            self.expect(held == agent_id, f"{where}, while {held} holds it")
            self.expect(i.agent_id == agent_id, f"{where}: {text(i)}")
        elif kind == pb.ASSIGNMENT_EVENT_TYPE_RELEASED:
            held = holders.pop(i.id, agent_id)
            self.expect(held == agent_id, f"{where}, while {held} holds it")

    @contextlib.asynccontextmanager
    async def watching(
        self, on_event: Callable[[pb.AssignmentEvent], None] | None = None
    ) -> AsyncIterator[None]:
        """A watch stream open (as the server counts it) for the body's duration."""
        before = self.watchers()
        task = asyncio.get_running_loop().create_task(self.watch(on_event))
        await self.until(lambda: self.watchers() > before, "the watch stream to open")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- agents ---------------------------------------------------------------------------

    async def hire(
        self, rng: random.Random, n: int, capacity: dict[int, int] | None = None
    ) -> list[str]:
        """`n` AVAILABLE agents with a few skills each, tiers 1..5 (one of each at least)."""
        ids = []
        for k in range(n):
            agent_id = f"a{k}"
            skills = {s: rng.randint(3, 10) for s in rng.sample(SKILLS, rng.randint(1, 3))}
            caps = dict(DEFAULTS)
            caps[pb.CHANNEL_CHAT] = rng.randint(1, 3)
            caps.update(capacity or {})
            profile = pb.UpsertAgentRequest(
                agent_id=agent_id,
                skills=skills,
                tier=k % 5 + 1,
                capacity=capacities(caps),
                state=AVAILABLE,
            )
            self.profiles[agent_id] = profile
            out = await self.call(self.stub(rng).UpsertAgent, profile)
            self.expect(out.ok, f"hire {agent_id}: {out.code.name} {out.details}")
            ids.append(agent_id)
        return ids
