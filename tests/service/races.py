"""Storms of concurrent clients against a live router, and the invariants that must hold
through them and once they have passed (used by tests/service/test_races.py).

A `Storm` drives one server through many grpc.aio channels at once (one per client), all
on one event loop. Every response is a snapshot the router took inside one unit of work,
so each is checked on its own as it arrives (`interaction_problems`, `agent_problems`).
What spans records (an agent's load against what it holds and is offered) is checked on a
read of everything that nothing changed under (`stable_world`, `world_problems`); and a
waiting interaction must not be left waiting while an agent could take it (`not_stuck`).

A seed fixes what each client chooses to do; how the calls interleave is the machine's.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import grpc
import grpc.aio
from google.protobuf import text_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from cim_router._pb import router_pb2 as pb
from cim_router._pb import router_pb2_grpc
from cim_router.domain.channel import DEFAULT_CAPACITY, Channel
from cim_router.domain.policy import Policy
from tests.service.conftest import Client, Running, wait_for

if TYPE_CHECKING:
    from cim_router._pb.router_pb2_grpc import RouterAsyncStub

Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp")
Code = grpc.StatusCode

# What a well-formed call may meet in a storm: it lost a race, or the state forbids it.
# Never UNKNOWN or INTERNAL (a bug), UNAVAILABLE (Redis is up), or DEADLINE_EXCEEDED (the
# deadline is generous; only an Assign that waits may run out of time).
REFUSALS = frozenset(
    {
        Code.INVALID_ARGUMENT,
        Code.NOT_FOUND,
        Code.FAILED_PRECONDITION,
        Code.ALREADY_EXISTS,
        Code.RESOURCE_EXHAUSTED,
    }
)
CALL_TIMEOUT = 10.0
EXPIRY_SLACK = 1.0  # how far past its expiry an offer may still be seen
ROUTE_WITHIN = 2.0  # how soon a waiting interaction that an agent could take is offered
SETTLE_WITHIN = 15.0  # how long a storm's aftermath may take to stop changing
TENANT = "default"
METADATA = (("x-cim-tenant", TENANT),)
SKILLS = ("sales", "billing", "tech")

QUEUED = pb.INTERACTION_STATE_QUEUED
OFFERED = pb.INTERACTION_STATE_OFFERED
ASSIGNED = pb.INTERACTION_STATE_ASSIGNED
WRAP_UP = pb.INTERACTION_STATE_WRAP_UP
COMPLETED = pb.INTERACTION_STATE_COMPLETED
CANCELLED = pb.INTERACTION_STATE_CANCELLED
HOLDING = frozenset({ASSIGNED, WRAP_UP, COMPLETED})  # the states with a holder
CLOSED = frozenset({COMPLETED, CANCELLED})
WARM, COLD = pb.TRANSFER_MODE_WARM, pb.TRANSFER_MODE_COLD
AVAILABLE, NOT_READY = pb.AGENT_STATE_AVAILABLE, pb.AGENT_STATE_NOT_READY
OFFLINE = pb.AGENT_STATE_OFFLINE
CHANNELS = tuple(int(c) + 1 for c in Channel)  # the wire values
DEFAULTS = {int(c) + 1: n for c, n in DEFAULT_CAPACITY.items()}  # by wire value


# --- small helpers ------------------------------------------------------------------------


def seconds(ts: Timestamp) -> float:
    return ts.seconds + ts.nanos / 1e9


def state_name(state: int) -> str:
    return pb.InteractionState.Name(pb.InteractionState.ValueType(state)).removeprefix(
        "INTERACTION_STATE_"
    )


def channel_name(channel: int) -> str:
    return pb.Channel.Name(pb.Channel.ValueType(channel)).removeprefix("CHANNEL_").lower()


def counts(entries: Iterable[pb.ChannelCount]) -> dict[int, int]:
    """Per-channel counts, zeros left out."""
    return {e.channel: e.count for e in entries if e.count}


def capacities(caps: dict[int, int]) -> list[pb.ChannelCount]:
    return [
        pb.ChannelCount(channel=pb.Channel.ValueType(c), count=n) for c, n in sorted(caps.items())
    ]


def wire_channels(channels: Iterable[Channel]) -> frozenset[int]:
    return frozenset(int(c) + 1 for c in channels)


def text(message: Message) -> str:
    return text_format.MessageToString(message, as_one_line=True)


def history(i: pb.Interaction) -> list[str]:
    return [pb.EventType.Name(e.type).removeprefix("EVENT_TYPE_") for e in i.history]


def routed(i: pb.Interaction) -> tuple[int, list[pb.SkillRequirement], set[str]]:
    """Channel, required skills and excluded agents as routing sees the interaction: a
    pending transfer's terms, and never back to the holder it moves away from."""
    excluded = set(i.excluded_agent_ids)
    if not i.HasField("transfer"):
        return i.channel, list(i.required_skills), excluded
    return i.transfer.channel, list(i.transfer.required_skills), excluded | {i.agent_id}


def waits_for_routing(i: pb.Interaction) -> bool:
    """Queued, or a pending transfer that no target is offered yet."""
    pending = i.HasField("transfer") and not i.HasField("offer")
    return i.state == QUEUED or (i.state == ASSIGNED and pending)


def can_take(a: pb.Agent, channel: int, exclusive: frozenset[int]) -> bool:
    """Room on the channel, exclusive channels included: one call and nothing beside it."""
    load, capacity = counts(a.load), counts(a.capacity)
    if load.get(channel, 0) >= capacity.get(channel, 0):
        return False
    if channel in exclusive:
        return not load
    return not any(load.get(c) for c in exclusive)


def eligible_agents(
    i: pb.Interaction, agents: Iterable[pb.Agent], policy: Policy, exclusive: frozenset[int]
) -> list[str]:
    """The agents that may take a waiting interaction now, by their records alone."""
    assert not policy.relaxation, "the storms run without relaxation"
    channel, required, excluded = routed(i)
    min_tier = policy.min_tier_for(i.escalation_level)
    return [
        a.id
        for a in agents
        if a.state == AVAILABLE
        and can_take(a, channel, exclusive)
        and all(a.skills.get(r.skill, 0) >= max(1, r.min_level) for r in required)
        and a.tier >= min_tier
        and a.id not in excluded
    ]


# --- what no single snapshot may show -----------------------------------------------------


def interaction_problems(i: pb.Interaction) -> list[str]:
    """What no snapshot of one interaction may show."""
    out = []
    where = f"interaction {i.id} ({state_name(i.state)})"
    if bool(i.agent_id) != (i.state in HOLDING):
        out.append(
            f"{where}: agent_id {i.agent_id!r}; a holder belongs to ASSIGNED, WRAP_UP, "
            "COMPLETED only"
        )
    pending = i.HasField("transfer")
    if pending and (i.state != ASSIGNED or i.transfer.mode != WARM):
        out.append(f"{where}: a pending transfer ({text(i.transfer)}) on what nobody holds")
    if i.state == OFFERED and not i.HasField("offer"):
        out.append(f"{where}: OFFERED without an offer")
    if i.HasField("offer"):
        o = i.offer
        if i.state not in (OFFERED, ASSIGNED) or (i.state == ASSIGNED) != pending:
            out.append(f"{where}: an offer to {o.agent_id} (transfer pending: {pending})")
        if o.transfer != pending:
            out.append(f"{where}: offer.transfer is {o.transfer}, a transfer pending: {pending}")
        if o.agent_id == i.agent_id:
            out.append(f"{where}: offered to {o.agent_id}, who holds it")
        named = i.transfer.agent_id if pending else ""
        if named and o.agent_id != named:
            out.append(f"{where}: a transfer to {named} offered to {o.agent_id}")
        want = i.transfer.channel if pending else i.channel
        if o.channel != want:
            out.append(f"{where}: offered on {channel_name(o.channel)}, not {channel_name(want)}")
    return out


def agent_problems(a: pb.Agent, exclusive: frozenset[int]) -> list[str]:
    """What no snapshot of one agent may show."""
    out = []
    load, capacity = counts(a.load), counts(a.capacity)
    for channel, n in sorted(load.items()):
        if n > capacity.get(channel, 0):
            out.append(
                f"agent {a.id}: load {n} on {channel_name(channel)} over its capacity "
                f"{capacity.get(channel, 0)}"
            )
    calls = sum(n for c, n in load.items() if c in exclusive)
    if calls and (calls > 1 or sum(load.values()) > calls):
        shown = {channel_name(c): n for c, n in load.items()}
        out.append(f"agent {a.id}: load {shown}; on a call it takes nothing else")
    if a.state == OFFLINE and load:
        out.append(f"agent {a.id}: OFFLINE with load {load}")
    return out


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


class Storm:
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

    async def __aenter__(self) -> Storm:
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

    def pick_agent(
        self, rng: random.Random, prefer: Callable[[pb.Agent], bool] | None = None
    ) -> str:
        """An agent; one that `prefer`s, by its latest answer, when there is one."""
        liked = [a for a, x in sorted(self.agents.items()) if prefer is not None and prefer(x)]
        return rng.choice(liked or sorted(self.profiles))

    async def set_state(self, rng: random.Random, agent_id: str, state: int = 0) -> None:
        state = state or rng.choices((AVAILABLE, NOT_READY, OFFLINE), (0.55, 0.3, 0.15))[0]
        req = pb.SetAgentStateRequest(
            agent_id=agent_id, state=pb.AgentState.ValueType(state), reason="storm"
        )
        out = await self.call(self.stub(rng).SetAgentState, req)
        if out.value is not None:
            self.expect(out.value.state == state, f"SetAgentState({text(req)}): {text(out.value)}")
        else:  # going OFFLINE with work in hand is refused; so is an agent being removed
            self.refused(out, f"SetAgentState({text(req)})", agent_id)
            gone = out.code == Code.NOT_FOUND
            self.expect(state == OFFLINE or gone, f"SetAgentState({text(req)}): {out.details}")

    async def leave_and_return(self, rng: random.Random, agent_id: str, back: float = 0.5) -> None:
        """The end of a shift: at times RemoveAgent at once (refused while the agent holds
        or is offered work); else, or if refused, NOT_READY, the work in hand (by the
        latest answers) completed and the offers rejected, then RemoveAgent. A removed
        agent is hired again with its profile, at once (with chance `back`) or later
        (calls naming it meanwhile find it gone)."""
        self.left.add(agent_id)
        if not (rng.random() < 0.5 and await self.remove(rng, agent_id)):
            await self.set_state(rng, agent_id, NOT_READY)
            mine = [i for i in self.known.values() if agent_id in (i.agent_id, i.offer.agent_id)]
            for i in mine:
                if i.offer.agent_id == agent_id:
                    await self.reject(rng, i.id, agent_id)
                elif i.state == ASSIGNED:
                    await self.complete(rng, i.id, agent_id)
            if not await self.remove(rng, agent_id):
                return
        if rng.random() >= back:
            return  # gone for now; a later UpsertAgent of it may bring it back
        hired = await self.call(self.stub(rng).UpsertAgent, self.profiles[agent_id])
        self.expect(hired.ok, f"UpsertAgent({agent_id}) again: {hired.code.name} {hired.details}")

    async def remove(self, rng: random.Random, agent_id: str) -> bool:
        out = await self.call(self.stub(rng).RemoveAgent, pb.RemoveAgentRequest(agent_id=agent_id))
        self.refused(out, f"RemoveAgent({agent_id})", agent_id)
        return out.ok

    async def resize(self, rng: random.Random, agent_id: str) -> None:
        """UpsertAgent with other capacities, often below what the agent holds by its
        latest answer (the router must refuse what would leave it over capacity), and at
        times a state (OFFLINE is refused while it holds work)."""
        profile = self.profiles[agent_id]
        caps = dict.fromkeys(CHANNELS, 0) | counts(profile.capacity)  # every one, zeros too
        load = counts(self.agents[agent_id].load) if agent_id in self.agents else {}
        for channel in (pb.CHANNEL_VOICE, pb.CHANNEL_CHAT, pb.CHANNEL_EMAIL):
            caps[channel] = rng.randint(0, 3)
        if load and rng.random() < 0.5:
            busy = rng.choice(sorted(load))
            caps[busy] = load[busy] - 1
        req = pb.UpsertAgentRequest()
        req.CopyFrom(profile)
        del req.capacity[:]
        req.capacity.extend(capacities(caps))
        req.state = pb.AgentState.ValueType(
            rng.choice((pb.AGENT_STATE_UNSPECIFIED, pb.AGENT_STATE_UNSPECIFIED, AVAILABLE, OFFLINE))
        )
        out = await self.call(self.stub(rng).UpsertAgent, req)
        if out.value is not None:
            got = counts(out.value.capacity)
            self.expect(
                got == {c: n for c, n in caps.items() if n},
                f"UpsertAgent({text(req)}) answered capacity {got}",
            )
        else:
            self.refused(out, f"UpsertAgent({text(req)})")
            if "capacity[" in out.details:
                self.tally["UpsertAgent", "refused: capacity below load"] += 1
            else:  # or it holds work and may not go OFFLINE
                self.expect(req.state == OFFLINE, f"UpsertAgent({text(req)}): {out.details}")

    # --- interactions ---------------------------------------------------------------------

    def new_request(
        self, rng: random.Random, channels: Sequence[tuple[int, float]]
    ) -> pb.EnqueueRequest:
        self._serial += 1
        channel = rng.choices([c for c, _ in channels], [w for _, w in channels])[0]
        required = [
            pb.SkillRequirement(skill=s, min_level=rng.randint(1, 4))
            for s in rng.sample(SKILLS, rng.choice((0, 0, 1, 1, 2)))
        ]
        return pb.EnqueueRequest(
            interaction_id=f"i{self._serial}",
            channel=pb.Channel.ValueType(channel),
            required_skills=required,
            priority=rng.randrange(101),
            customer_id=f"c{rng.randrange(12)}" if rng.random() < 0.3 else "",
            customer_tier=rng.choice(("standard", "gold", "vip")),
        )

    async def enqueue(self, rng: random.Random, channels: Sequence[tuple[int, float]]) -> None:
        """A new interaction, sometimes from several clients at once: exactly one of them
        creates it, and every one answers with it."""
        req = self.new_request(rng, channels)
        copies = 3 if rng.random() < 0.25 else 1
        outs = await asyncio.gather(
            *(self.call(self.stub(rng).Enqueue, req) for _ in range(copies))
        )
        made = [o for o in outs if o.value is not None and o.value.created]
        self.expect(all(o.ok for o in outs), f"Enqueue({text(req)}): {[o.code for o in outs]}")
        self.expect(len(made) == 1, f"{req.interaction_id}: {len(made)} of {copies} created it")
        if any(o.ok for o in outs):
            self.requests[req.interaction_id] = req

    async def repeat_enqueue(self, rng: random.Random) -> None:
        """An id enqueued again: the same request answers with it; another is refused."""
        if not self.requests:
            return
        iid = rng.choice(sorted(self.requests))
        req = pb.EnqueueRequest()
        req.CopyFrom(self.requests[iid])
        same = rng.random() < 0.5
        if not same:
            req.priority = (req.priority + 1) % 101
        out = await self.call(self.stub(rng).Enqueue, req)
        if same:
            self.expect(
                out.value is not None and not out.value.created,
                f"Enqueue of {iid} again: {out.code.name} {out.details}",
            )
        else:
            self.expect(out.code == Code.ALREADY_EXISTS, f"Enqueue of {iid} changed: {out.code}")

    def pick_interaction(self, rng: random.Random, open_share: float = 0.9) -> str | None:
        """An interaction, most often one that is open by the latest answer about it."""
        if not self.requests:
            return None
        live = [k for k, v in self.known.items() if v.state not in CLOSED]
        if live and rng.random() < open_share:
            return rng.choice(live)
        return rng.choice(sorted(self.requests))

    def open_count(self) -> int:
        return sum(1 for v in self.known.values() if v.state in (QUEUED, OFFERED, ASSIGNED))

    async def read(self, rng: random.Random, iid: str) -> pb.Interaction | None:
        out = await self.call(
            self.stub(rng).GetInteraction, pb.GetInteractionRequest(interaction_id=iid)
        )
        self.expect(out.ok, f"GetInteraction({iid}): {out.code.name} {out.details}")
        return out.value

    async def accept(self, rng: random.Random, iid: str, agent_id: str) -> None:
        req = pb.AcceptRequest(interaction_id=iid, agent_id=agent_id)
        out = await self.call(self.stub(rng).Accept, req)
        if out.value is not None:
            i = out.value
            self.expect(i.state == ASSIGNED and i.agent_id == agent_id, f"Accept: {text(i)}")
            self.expect(not i.HasField("transfer") and not i.HasField("offer"), f"Accept: {i}")
        else:
            self.refused(out, f"Accept({text(req)})", agent_id)

    async def reject(self, rng: random.Random, iid: str, agent_id: str) -> None:
        req = pb.RejectRequest(interaction_id=iid, agent_id=agent_id, reason="storm")
        out = await self.call(self.stub(rng).Reject, req)
        if out.value is not None:
            i = out.value
            again = i.HasField("offer") and i.offer.agent_id == agent_id
            self.expect(not again and agent_id != i.agent_id, f"Reject by {agent_id}: {text(i)}")
        else:
            self.refused(out, f"Reject({text(req)})", agent_id)

    async def cancel(self, rng: random.Random, iid: str) -> None:
        req = pb.CancelRequest(interaction_id=iid, reason="storm")
        out = await self.call(self.stub(rng).Cancel, req)
        if out.value is not None:
            i = out.value
            self.expect(i.state == CANCELLED, f"Cancel: {text(i)}")
            self.expect(not i.HasField("offer") and not i.HasField("transfer"), f"Cancel: {i}")
        else:
            self.refused(out, f"Cancel({text(req)})")

    async def complete(self, rng: random.Random, iid: str, agent_id: str) -> None:
        req = pb.CompleteRequest(interaction_id=iid, agent_id=agent_id, csat=rng.randint(0, 5))
        out = await self.call(self.stub(rng).Complete, req)
        if out.value is not None:
            i = out.value
            self.expect(i.state in (WRAP_UP, COMPLETED), f"Complete: {text(i)}")
            self.expect(not agent_id or i.agent_id == agent_id, f"Complete({req}): {text(i)}")
            self.expect(not i.HasField("offer") and not i.HasField("transfer"), f"Complete: {i}")
        else:
            self.refused(out, f"Complete({text(req)})")

    async def escalate(self, rng: random.Random, iid: str) -> None:
        req = pb.EscalateRequest(interaction_id=iid, reason="storm")
        out = await self.call(self.stub(rng).Escalate, req)
        if out.value is not None:
            self.expect(out.value.escalation_level >= 1, f"Escalate: {text(out.value)}")
        else:
            self.refused(out, f"Escalate({text(req)})")

    async def cancel_transfer(self, rng: random.Random, iid: str, agent_id: str) -> None:
        req = pb.CancelTransferRequest(interaction_id=iid, agent_id=agent_id, reason="storm")
        out = await self.call(self.stub(rng).CancelTransfer, req)
        if out.value is not None:
            i = out.value
            self.expect(i.state == ASSIGNED, f"CancelTransfer: {text(i)}")
            self.expect(not i.HasField("transfer") and not i.HasField("offer"), f"{i}")
        else:
            self.refused(out, f"CancelTransfer({text(req)})")

    def transfer_request(
        self,
        rng: random.Random,
        iid: str,
        holder: str,
        channels: Sequence[int] = (),
        prefer: Callable[[pb.Agent], bool] | None = None,
    ) -> pb.TransferRequest:
        """A warm or cold transfer to an agent (not the holder, mostly), a skill or the
        queue; onto one of `channels` sometimes."""
        req = pb.TransferRequest(interaction_id=iid, mode=rng.choice((WARM, COLD)), reason="storm")
        kind = rng.choices(("agent", "skills", "queue"), (0.5, 0.3, 0.2))[0]
        if kind == "agent":
            req.agent_id = self.pick_agent(
                rng, lambda a: a.id != holder and (prefer is None or prefer(a))
            )
            req.ignore_skills = rng.random() < 0.3
        elif kind == "skills":
            skill = pb.SkillRequirement(skill=rng.choice(SKILLS), min_level=rng.randint(1, 4))
            req.skills.required_skills.append(skill)
        else:
            req.queue.SetInParent()
        if channels and rng.random() < 0.4:
            req.channel = pb.Channel.ValueType(rng.choice(channels))
        return req

    async def transfer(self, rng: random.Random, req: pb.TransferRequest) -> None:
        out = await self.call(self.stub(rng).Transfer, req)
        named = req.WhichOneof("target") == "agent_id"
        if out.value is None:
            self.refused(out, f"Transfer({text(req)})", req.agent_id)
            why = out.details.partition("cannot take the interaction: ")[2]
            if why:
                self.tally["Transfer", f"refused: target {why}"] += 1
            return
        i = out.value
        if req.mode == WARM:
            self.expect(i.state == ASSIGNED and i.HasField("transfer"), f"warm: {text(i)}")
            channel = i.transfer.channel
        else:
            self.expect(i.state in (QUEUED, OFFERED) and not i.agent_id, f"cold: {text(i)}")
            channel = i.channel
        if req.channel:
            self.expect(channel == req.channel, f"Transfer({text(req)}): {text(i)}")
        if named:
            self.expect(i.offer.agent_id == req.agent_id, f"Transfer({text(req)}): {text(i)}")

    def moves(
        self,
        rng: random.Random,
        i: pb.Interaction,
        channels: Sequence[int] = (),
        prefer: Callable[[pb.Agent], bool] | None = None,
    ) -> list[tuple[float, Callable[[], Awaitable[None]]]]:
        """What a client might do to `i` as it last saw it, weighted; the state may have
        moved on by the time the call arrives, which is the point."""
        iid, holder = i.id, i.agent_id
        offered = i.offer.agent_id if i.HasField("offer") else ""
        anyone = self.pick_agent(rng)
        req = self.transfer_request(rng, iid, holder, channels, prefer)
        moves: list[tuple[float, Callable[[], Awaitable[None]]]] = [
            (0.3, lambda: self.accept(rng, iid, anyone)),
            (0.5, lambda: self.cancel(rng, iid)),
            (0.3, lambda: self.escalate(rng, iid)),
            (0.2, lambda: self.complete(rng, iid, "")),
            (0.2, lambda: self.transfer(rng, req)),
            (0.1, lambda: self.cancel_transfer(rng, iid, "")),
        ]
        if offered:
            moves += [
                (3.0, lambda: self.accept(rng, iid, offered)),
                (1.0, lambda: self.reject(rng, iid, offered)),
            ]
        if i.state == ASSIGNED:
            moves += [
                (2.0, lambda: self.complete(rng, iid, holder)),
                (3.0, lambda: self.transfer(rng, req)),
                (0.5, lambda: self.escalate(rng, iid)),
                (0.3, lambda: self.complete(rng, iid, anyone)),
            ]
            if i.HasField("transfer"):
                moves += [(2.5, lambda: self.cancel_transfer(rng, iid, holder))]
        if i.state == WRAP_UP:
            moves += [(2.0, lambda: self.complete(rng, iid, holder))]
        if i.state == QUEUED:
            moves += [(0.5, lambda: self.escalate(rng, iid))]
        return moves

    async def burst(
        self,
        rng: random.Random,
        fanout: int,
        channels: Sequence[int] = (),
        prefer: Callable[[pb.Agent], bool] | None = None,
    ) -> None:
        """Read an interaction, then send it up to `fanout` different calls at once, each
        from its own client."""
        iid = self.pick_interaction(rng)
        if iid is None:  # nothing enqueued yet
            await self.call(self.stub(rng).ListAgents, pb.ListAgentsRequest())
            return
        i = await self.read(rng, iid)
        if i is None:
            return
        moves = self.moves(rng, i, channels, prefer)
        picked = rng.choices([m for _, m in moves], [w for w, _ in moves], k=fanout)
        await asyncio.gather(*(move() for move in picked))

    async def last_word(self) -> None:
        """How a storm ends. A backlog of plain chats arrives, more than the agents have
        room for, then each plain offer still open is answered once, rejected or accepted:
        an agent a reject frees must be offered what waits for it, with nothing else to
        prompt the router (what `not_stuck` then checks). Then each interaction held is
        transferred warm, to an agent or a skill, and left pending for the restart."""
        rng = self.rng("last word")
        room = sum(counts(a.capacity).get(pb.CHANNEL_CHAT, 0) for a in self.agents.values())
        for _ in range(room + 4):
            self._serial += 1
            req = pb.EnqueueRequest(interaction_id=f"i{self._serial}", channel=pb.CHANNEL_CHAT)
            out = await self.call(self.stub(rng).Enqueue, req)
            self.expect(out.ok, f"Enqueue({text(req)}): {out.code.name} {out.details}")
            self.requests[req.interaction_id] = req
        for iid in sorted(self.requests):
            i = await self.read(rng, iid)
            if i is not None and i.HasField("offer") and not i.offer.transfer:
                answer = self.reject if rng.random() < 0.5 else self.accept
                await answer(rng, iid, i.offer.agent_id)
        for iid in sorted(self.requests):
            i = await self.read(rng, iid)
            if i is not None and i.state == ASSIGNED and not i.HasField("transfer"):
                warm = self.transfer_request(rng, iid, i.agent_id)
                warm.mode = WARM
                await self.transfer(rng, warm)

    def report(self, problems: Sequence[str] = ()) -> None:
        """Fail with everything that went wrong, if anything did."""
        wrong = [*self.failures, *self.violations, *problems]
        if wrong:
            shown = "\n  ".join(dict.fromkeys(wrong))
            raise AssertionError(
                f"seed {self.seed}: {len(wrong)} problem(s):\n  {shown}\ncalls: {self.summary()}"
            )

    def summary(self) -> str:
        return ", ".join(f"{m} {c}: {n}" for (m, c), n in sorted(self.tally.items()))


# --- after the storm: everything read back ------------------------------------------------


@dataclass
class World:
    """Every agent and the interactions asked for, read while no agent changed."""

    agents: dict[str, pb.Agent]
    interactions: dict[str, pb.Interaction]
    read_at: dict[str, float]  # when each interaction was read
    stats: pb.Stats
    listed: list[str]  # the agent ids ListAgents answered, in its order
    missing: dict[str, str]  # interactions GetInteraction did not answer, and why


def read_world(client: Client, ids: Iterable[str]) -> tuple[World, bool]:
    """One read of everything, and whether it is consistent: a read that spans records
    is, if no agent changed meanwhile (every change of a load changes an agent)."""
    before = client.ListAgents(pb.ListAgentsRequest()).agents
    stats = client.GetStats(pb.GetStatsRequest())
    interactions, read_at, missing = {}, {}, {}
    for iid in ids:
        read_at[iid] = time.time()
        try:
            interactions[iid] = client.get(iid)
        except grpc.RpcError as exc:
            missing[iid] = f"{exc.code().name}: {exc.details()}"
    after = client.ListAgents(pb.ListAgentsRequest()).agents
    listed = [a.id for a in after]
    world = World({a.id: a for a in after}, interactions, read_at, stats, listed, missing)
    return world, list(before) == list(after)


def stable_world(client: Client, ids: Iterable[str], problems: list[str]) -> World | None:
    """A consistent read of everything once no offer is past its expiry: the storm's
    timers have settled. An offer seen on any read more than EXPIRY_SLACK past its
    expiry is a problem, and so is an aftermath that does not settle."""
    ids = sorted(ids)
    found: list[World] = []
    late: dict[tuple[str, float], str] = {}

    def settled() -> bool:
        world, consistent = read_world(client, ids)
        overdue = False
        for iid, i in world.interactions.items():
            if not i.HasField("offer"):
                continue
            behind = world.read_at[iid] - seconds(i.offer.expires_at)
            overdue = overdue or behind > 0
            if behind > EXPIRY_SLACK:
                late.setdefault(
                    (iid, seconds(i.offer.offered_at)),
                    f"interaction {iid}: offer to {i.offer.agent_id} seen {behind:.2f} s past "
                    "its expiry",
                )
        if consistent and not overdue:
            found.append(world)
        return bool(found)

    try:
        wait_for(settled, SETTLE_WITHIN, "the storm's aftermath to settle")
    except AssertionError:
        problems.append(f"no consistent read without overdue offers in {SETTLE_WITHIN} s")
    problems += late.values()
    return found[-1] if found else None


def world_problems(world: World, exclusive: frozenset[int]) -> list[str]:
    """What a consistent read of everything must not show."""
    out = []
    held: dict[str, Counter[int]] = {}
    offered: dict[str, Counter[int]] = {}
    for iid, why in sorted(world.missing.items()):
        out.append(f"interaction {iid} is gone: GetInteraction answers {why}")
    if world.listed != sorted(set(world.listed)):
        out.append(f"ListAgents answered {world.listed}: each agent once, in order of id")
    staffed = sum(c.count for c in world.stats.agents_by_state)
    if staffed != len(world.listed):
        out.append(f"GetStats counts {staffed} agents; ListAgents lists {len(world.listed)}")
    for iid, i in world.interactions.items():
        if i.id != iid:
            out.append(f"GetInteraction({iid}) answered {i.id}")
        out += interaction_problems(i)
        if i.state == ASSIGNED:
            held.setdefault(i.agent_id, Counter())[i.channel] += 1
        if i.HasField("offer"):
            offered.setdefault(i.offer.agent_id, Counter())[i.offer.channel] += 1
    for agent_id in sorted({*held, *offered} - set(world.agents)):
        out.append(f"agent {agent_id} holds or is offered work but is not listed")
    for agent_id, a in world.agents.items():
        out += agent_problems(a, exclusive)
        want = held.get(agent_id, Counter()) + offered.get(agent_id, Counter())
        load = counts(a.load)
        if load != dict(want):
            names = {channel_name(c): n for c, n in sorted(load.items())}
            holds = {channel_name(c): n for c, n in sorted(held.get(agent_id, {}).items())}
            offers = {channel_name(c): n for c, n in sorted(offered.get(agent_id, {}).items())}
            out.append(f"agent {agent_id}: load {names}, but holds {holds} and is offered {offers}")
    if world.stats.quarantined:
        out.append(f"records set aside, not loaded: {list(world.stats.quarantined_records)}")
    queued = sum(1 for i in world.interactions.values() if i.state == QUEUED)
    if world.stats.waiting != queued:
        out.append(f"GetStats counts {world.stats.waiting} waiting; {queued} of ours are QUEUED")
    return out


def not_stuck(client: Client, world: World, policy: Policy, exclusive: frozenset[int]) -> list[str]:
    """Every interaction waiting for routing is offered soon, unless no agent may take
    it: by the router's own count (Explain) and by the agents' records."""
    out = []
    for iid, first in sorted(world.interactions.items()):
        if not waits_for_routing(first):
            continue
        seen: list[str] = []

        def routed_or_unservable(iid: str = iid, seen: list[str] = seen) -> bool:
            i = client.get(iid)
            if not waits_for_routing(i):
                return True
            agents = client.ListAgents(pb.ListAgentsRequest()).agents
            mine = eligible_agents(i, agents, policy, exclusive)
            try:
                e = client.Explain(pb.ExplainRequest(interaction_id=iid))
            except grpc.RpcError:  # no longer waiting: nothing live to explain
                return not waits_for_routing(client.get(iid))
            if not e.live:
                return True
            seen[:] = [f"eligible by Explain {e.eligible} {dict(e.exclusions)}, by records {mine}"]
            return not mine and e.eligible == 0

        try:
            wait_for(routed_or_unservable, ROUTE_WITHIN, f"{iid} to be routed")
        except AssertionError:
            out.append(f"interaction {iid} waits though agents may take it: {seen[0]}")
    return out


def across_restart(before: World, after: World) -> list[str]:
    """What a restart may change: offers go back to the queue (and are made again),
    wrap-ups end; every interaction is still there, and every holder keeps what it holds."""
    out = []
    if set(after.agents) != set(before.agents):
        out.append(
            f"agents {sorted(before.agents)} before the restart, {sorted(after.agents)} after"
        )
    for iid, b in before.interactions.items():
        a = after.interactions.get(iid)
        if a is None:
            continue  # gone: world_problems says so
        now = f"{iid}: {state_name(b.state)} held by {b.agent_id!r} before the restart, " + (
            f"{state_name(a.state)} held by {a.agent_id!r} after"
        )
        if b.state in (QUEUED, OFFERED):
            ok = a.state in (QUEUED, OFFERED)
        elif b.state == WRAP_UP:
            ok = a.state in (WRAP_UP, COMPLETED) and a.agent_id == b.agent_id
        else:
            ok = a.state == b.state and a.agent_id == b.agent_id
        if not ok:
            out.append(now)
        if a.escalation_level != b.escalation_level or a.channel != b.channel:
            out.append(f"{iid}: {text(b)} before the restart, {text(a)} after")
    return out
