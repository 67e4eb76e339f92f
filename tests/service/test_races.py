"""Race storms: many clients at once on shared interactions and agents, over real gRPC;
then every record read back and checked, before and after a restart on the same Redis.

Each storm's choices come from a seed, printed with any failure; set CIM_RACE_SEED to
replay a run's choices (the interleaving of the calls is the machine's). The invariants
and the storm itself are in races.py.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from cim_router._pb import router_pb2 as pb
from cim_router.domain.channel import Channel
from cim_router.domain.policy import Policy
from tests.redis_server import drop_prefix
from tests.service.conftest import Client, fast_policy, start_server
from tests.service.race_checks import (
    ASSIGNED,
    AVAILABLE,
    WRAP_UP,
    World,
    across_restart,
    counts,
    history,
    not_stuck,
    stable_world,
    text,
    world_problems,
)
from tests.service.race_storm import Outcome
from tests.service.races import Storm

SEED = os.environ.get("CIM_RACE_SEED") or str(random.SystemRandom().randrange(10**6))
ROUNDS = 40  # per client, in the default run
SLOW_ROUNDS = 400

CHAT, VOICE, VIDEO, EMAIL = pb.CHANNEL_CHAT, pb.CHANNEL_VOICE, pb.CHANNEL_VIDEO, pb.CHANNEL_EMAIL
Mix = tuple[tuple[int, float], ...]  # channels and their shares of new interactions
MIXED: Mix = ((CHAT, 0.6), (VOICE, 0.2), (EMAIL, 0.2))

# Wrap-up of 0.2 s, but 30 s for email: some interactions are in wrap-up across a restart.
LONG_EMAIL_WRAP_UP = {**dict.fromkeys(Channel, 0.2), Channel.EMAIL: 30.0}

Body = Callable[[Storm, int], Awaitable[None]]
Coverage = Callable[[Storm, World], list[str]]


def run_storm(name: str, policy: Policy, body: Body, rounds: int, coverage: Coverage) -> None:
    """Run a storm on a fresh server, check what it left, restart on the same Redis and
    check again."""
    seed = f"{SEED}:{name}"
    print(f"race seed {SEED} (CIM_RACE_SEED={SEED} replays the choices of this run)")
    first = start_server(policy)
    servers = [first]
    try:
        storm = Storm(first, policy, seed)

        async def main() -> None:
            async with storm, storm.watching():  # the stream checks what it shows
                await body(storm, rounds)
                await storm.last_word()

        asyncio.run(main())
        storm.report()
        problems: list[str] = []

        def settled(client: Client) -> World:
            world = stable_world(client, storm.requests, problems)
            if world is None:
                storm.report(problems)
            assert world is not None
            return world

        client = first.client()
        world = settled(client)
        problems += world_problems(world, storm.exclusive)
        problems += not_stuck(client, world, policy, storm.exclusive)
        problems += coverage(storm, world)
        storm.report(problems)

        before = settled(client)
        first.stop()
        second = start_server(policy, settings=first.settings)
        servers.append(second)
        client = second.client()
        after = settled(client)
        problems += [f"after the restart: {p}" for p in world_problems(after, storm.exclusive)]
        problems += across_restart(before, after)
        problems += not_stuck(client, after, policy, storm.exclusive)
        storm.report(problems)
    finally:
        for running in servers:
            running.stop()
        drop_prefix(first.settings.prefix)


def at_least(storm: Storm, n: int, method: str, outcome: str) -> list[str]:
    """A storm that never got somewhere proves nothing there."""
    got = storm.tally[method, outcome]
    return [] if got >= n else [f"only {got} {method} {outcome} (want {n}): {storm.summary()}"]


@dataclass(frozen=True)
class Chores:
    """What every client does now and then beside its part: keep about `open`
    interactions open, bring an agent back AVAILABLE (missed offers make it NOT_READY)
    or send it away, enqueue an earlier id again."""

    open: int
    mix: Mix
    presence: float = 0.1  # chance per round of a state change; `back` of them AVAILABLE
    back: float = 0.8
    repeat: float = 0.05


async def chores(storm: Storm, rng: random.Random, c: Chores) -> None:
    """One round's chores."""
    if storm.open_count() < c.open:
        await storm.enqueue(rng, c.mix)
    if rng.random() < c.presence:
        await storm.set_state(rng, storm.pick_agent(rng), AVAILABLE if rng.random() < c.back else 0)
    if rng.random() < c.repeat:
        await storm.repeat_enqueue(rng)


Step = Callable[[random.Random], Awaitable[None]]


async def clients(storm: Storm, name: str, n: int, rounds: int, c: Chores, step: Step) -> None:
    """`n` clients, each `rounds` times doing its chores and then its `step`."""

    async def one(k: int) -> None:
        rng = storm.rng(f"{name}{k}")
        for _ in range(rounds):
            await chores(storm, rng, c)
            await step(rng)

    await asyncio.gather(*(one(k) for k in range(n)))


async def fill(storm: Storm, rng: random.Random, n: int, channels: Mix) -> None:
    """The first `n` interactions, before the clients start."""
    for _ in range(n):
        await storm.enqueue(rng, channels)


def accepting(storm: Storm, share: float) -> Callable[[pb.AssignmentEvent], None]:
    """A watch handler accepting `share` of the offers it sees, at once."""
    rng = storm.rng("accepts")

    def on_event(event: pb.AssignmentEvent) -> None:
        if event.type == pb.ASSIGNMENT_EVENT_TYPE_OFFERED and rng.random() < share:
            storm.spawn(storm.accept(rng, event.interaction.id, event.agent_id))

    return on_event


# --- the storms -----------------------------------------------------------------------------


async def lifecycle(storm: Storm, rounds: int) -> None:
    """Accept, cancel, reject, transfer (warm and cold, to agents, skills and the queue,
    onto other channels), complete, escalate and CancelTransfer on the same interactions,
    several clients at once on each."""
    rng = storm.rng("setup")
    await storm.hire(rng, 8)
    await fill(storm, rng, 16, MIXED)

    async def step(r: random.Random) -> None:
        await storm.burst(r, r.randint(2, 4), channels=(CHAT, EMAIL, VOICE))

    await clients(storm, "client", 6, rounds, Chores(16, MIXED), step)


def lifecycle_coverage(storm: Storm, world: World) -> list[str]:
    return [
        *at_least(storm, 10, "Accept", "OK"),
        *at_least(storm, 10, "Accept", "FAILED_PRECONDITION"),
        *at_least(storm, 3, "Reject", "OK"),
        *at_least(storm, 3, "Cancel", "OK"),
        *at_least(storm, 5, "Transfer", "OK"),
        *at_least(storm, 1, "CancelTransfer", "OK"),
        *at_least(storm, 3, "Complete", "OK"),
        *at_least(storm, 2, "Escalate", "OK"),
        *at_least(storm, 1, "Enqueue", "ALREADY_EXISTS"),
    ]


async def agents(storm: Storm, rounds: int) -> None:
    """Agents go AVAILABLE, NOT_READY and OFFLINE, their capacities change (below what
    they hold, too), and they leave (RemoveAgent) and come back, while their offers are
    in flight and answered. Email's wrap-up outlasts the storm: agents leave during it,
    and some have left for good when the router restarts."""
    rng = storm.rng("setup")
    await storm.hire(rng, 8)
    await fill(storm, rng, 16, MIXED)

    async def desk(r: random.Random) -> None:
        agent_id = storm.pick_agent(r)
        what = r.random()
        if what < 0.5:
            await storm.set_state(r, agent_id)
        elif what < 0.9:
            await storm.resize(r, agent_id)
        else:
            await storm.leave_and_return(r, agent_id)
        await storm.call(storm.stub(r).GetAgent, pb.GetAgentRequest(agent_id=agent_id))

    async def work(r: random.Random) -> None:
        await storm.burst(r, r.randint(1, 3), channels=(CHAT, EMAIL))

    await asyncio.gather(
        clients(storm, "desk", 3, rounds, Chores(16, MIXED, presence=0), desk),
        clients(storm, "client", 3, rounds, Chores(16, MIXED, presence=0), work),
    )
    for agent_id in rng.sample(sorted(storm.profiles), 3):  # the shift ends for some
        await storm.leave_and_return(rng, agent_id, back=0.0)


def agents_coverage(storm: Storm, world: World) -> list[str]:
    return [
        *at_least(storm, 3, "UpsertAgent", "refused: capacity below load"),
        *at_least(storm, 10, "UpsertAgent", "OK"),
        *at_least(storm, 1, "SetAgentState", "FAILED_PRECONDITION"),
        *at_least(storm, 10, "SetAgentState", "OK"),
        *at_least(storm, 5, "Accept", "OK"),
        *at_least(storm, 1, "RemoveAgent", "OK"),
        *at_least(storm, 1, "RemoveAgent", "FAILED_PRECONDITION"),
    ]


async def expiry(storm: Storm, rounds: int) -> None:
    """Offers expire (after 0.2 s) while agents answer them, some in time, some not, and
    the agents who missed or rejected them may be offered them again (after 0.5 s)."""
    rng = storm.rng("setup")
    await storm.hire(rng, 6)
    answers = storm.rng("answers")

    async def answer(iid: str, agent_id: str, delay: float, how: float) -> None:
        await asyncio.sleep(delay)  # the agent's reaction time, racing the expiry
        if how < 0.6:
            await storm.accept(answers, iid, agent_id)
        elif how < 0.9:
            await storm.reject(answers, iid, agent_id)

    def on_event(event: pb.AssignmentEvent) -> None:
        if event.type == pb.ASSIGNMENT_EVENT_TYPE_OFFERED:
            delay, how = answers.uniform(0.0, 0.35), answers.random()
            storm.spawn(answer(event.interaction.id, event.agent_id, delay, how))

    async def finish(r: random.Random) -> None:
        held = [i for i in storm.known.values() if i.state in (ASSIGNED, WRAP_UP)]
        if held:
            i = r.choice(held)
            await storm.complete(r, i.id, i.agent_id)
        await storm.burst(r, r.randint(1, 2))

    async with storm.watching(on_event):
        await fill(storm, rng, 12, MIXED)
        await clients(storm, "client", 4, rounds, Chores(12, MIXED, 0.3, back=0.9), finish)
        await storm.drain()


def expiry_coverage(storm: Storm, world: World) -> list[str]:
    expired = sum(history(i).count("OFFER_EXPIRED") for i in world.interactions.values())
    lapsed = sum(history(i).count("EXCLUSION_LAPSED") for i in world.interactions.values())
    out = [] if expired >= 5 else [f"only {expired} offers expired: {storm.summary()}"]
    out += [] if lapsed >= 3 else [f"only {lapsed} exclusions lapsed: {storm.summary()}"]
    return [
        *out,
        *at_least(storm, 10, "Accept", "OK"),
        *at_least(storm, 3, "Accept", "FAILED_PRECONDITION"),
        *at_least(storm, 3, "Reject", "OK"),
    ]


def timed_out(out: Outcome[Any], waiting: bool) -> bool:
    """A waiting Assign may run out of time: its answer is due just before the deadline,
    and a loaded machine may deliver it just after."""
    return waiting and out.code == grpc.StatusCode.DEADLINE_EXCEEDED


async def pull(storm: Storm, rounds: int) -> None:
    """Agents pull work with Assign (waiting and not) while a watcher accepts the same
    offers as they are made, and clients ask which agent an interaction went to."""
    rng = storm.rng("setup")
    ids = await storm.hire(rng, 6)
    await fill(storm, rng, 12, MIXED)

    async def desktop(r: random.Random) -> None:
        agent_id = r.choice(ids)
        held = [
            i.id for i in storm.known.values() if i.state == ASSIGNED and i.agent_id == agent_id
        ]
        if held and r.random() < 0.5:  # work the watcher accepted, or pulled earlier
            await storm.complete(r, r.choice(held), agent_id)
        wait = r.random() < 0.4
        req = pb.AssignRequest(agent_id=agent_id, wait=wait)
        timeout = r.uniform(0.1, 0.4) if wait else 10.0
        out = await storm.call(storm.stub(r).Assign, req, waiting=wait, timeout=timeout)
        got = out.value
        if got is None:
            if not timed_out(out, wait):
                storm.refused(out, f"Assign({text(req)})", req.agent_id)
            if "not AVAILABLE" in out.details and r.random() < 0.5:
                await storm.set_state(r, agent_id, AVAILABLE)
        elif got.matched:
            i = got.interaction
            storm.expect(
                i.state == ASSIGNED and i.agent_id == agent_id == got.agent_id,
                f"Assign({text(req)}) matched {text(i)}",
            )
            if r.random() < 0.8:
                await storm.complete(r, i.id, agent_id)
            else:
                await storm.transfer(r, storm.transfer_request(r, i.id, agent_id))
        else:
            storm.expect(
                got.agent_id == agent_id and not got.HasField("interaction"),
                f"Assign({text(req)}): {text(got)}",
            )

    async def ask(r: random.Random) -> None:
        iid = storm.pick_interaction(r)
        assert iid is not None
        wait = r.random() < 0.5
        req = pb.AssignRequest(interaction_id=iid, wait=wait)
        out = await storm.call(storm.stub(r).Assign, req, waiting=wait, timeout=0.3 if wait else 10)
        got = out.value
        if got is not None and got.matched:
            i = got.interaction
            chosen = i.offer.agent_id if i.HasField("offer") else i.agent_id
            storm.expect(got.agent_id == chosen, f"Assign({iid}) chose {got.agent_id}: {text(i)}")
        elif got is None and not timed_out(out, wait):
            storm.refused(out, f"Assign({text(req)})", req.agent_id)

    async with storm.watching(accepting(storm, 0.5)):
        await asyncio.gather(
            clients(storm, "desktop", 8, rounds, Chores(12, MIXED, 0.1, back=0.85), desktop),
            clients(storm, "asker", 2, rounds, Chores(12, MIXED, presence=0), ask),
        )
        await storm.drain()


def pull_coverage(storm: Storm, world: World) -> list[str]:
    return [
        *at_least(storm, 10, "Assign", "OK"),
        *at_least(storm, 3, "Accept", "OK"),
        *at_least(storm, 3, "Accept", "FAILED_PRECONDITION"),
    ]


async def exclusive(storm: Storm, rounds: int) -> None:
    """Calls and chats for the same agents: agents holding chats offered calls and
    transferred calls (and the other way round), on channels that exclude each other."""
    rng = storm.rng("setup")
    await storm.hire(rng, 8, capacity={VOICE: 1, VIDEO: 1, CHAT: 3})
    mix: Mix = ((VOICE, 0.4), (VIDEO, 0.1), (CHAT, 0.5))
    await fill(storm, rng, 16, mix)

    def busy(a: pb.Agent) -> bool:
        return bool(counts(a.load))

    async def step(r: random.Random) -> None:
        await storm.burst(r, r.randint(1, 3), channels=(VOICE, CHAT, VIDEO), prefer=busy)
        await storm.call(storm.stub(r).ListAgents, pb.ListAgentsRequest())

    async with storm.watching(accepting(storm, 0.8)):
        await clients(storm, "client", 5, rounds, Chores(16, mix), step)
        await storm.drain()


def exclusive_coverage(storm: Storm, world: World) -> list[str]:
    return [
        *at_least(storm, 3, "Transfer", "refused: target no_capacity"),
        *at_least(storm, 5, "Transfer", "OK"),
        *at_least(storm, 10, "Accept", "OK"),
    ]


STORMS: dict[str, tuple[Policy, Body, Coverage]] = {
    # Offers there last until answered, so that the restart finds many in flight.
    "lifecycle": (fast_policy(offer_timeout_seconds=30.0), lifecycle, lifecycle_coverage),
    "agents": (fast_policy(wrap_up_seconds=LONG_EMAIL_WRAP_UP), agents, agents_coverage),
    # Exclusions lapse too: an agent that missed an offer may be offered it again.
    "expiry": (
        fast_policy(offer_timeout_seconds=0.2, exclusion_seconds=0.5),
        expiry,
        expiry_coverage,
    ),
    "pull": (fast_policy(), pull, pull_coverage),
    "exclusive": (fast_policy(), exclusive, exclusive_coverage),
}


@pytest.mark.parametrize("name", list(STORMS))
def test_storm(name: str) -> None:
    policy, body, coverage = STORMS[name]
    run_storm(name, policy, body, ROUNDS, coverage)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(STORMS))
def test_long_storm(name: str) -> None:
    policy, body, coverage = STORMS[name]
    run_storm(name, policy, body, SLOW_ROUNDS, coverage)


# --- what the storms found, pinned down -----------------------------------------------------


def test_cancel_of_an_assigned_interaction_leaves_no_holder(client: Client) -> None:
    """A cancelled interaction names no holder: its agent was released (found by the
    lifecycle storm: CANCELLED interactions kept their last holder's agent_id)."""
    client.agent("a1")
    client.enqueue("i1")
    client.Accept(pb.AcceptRequest(interaction_id="i1", agent_id="a1"))
    cancelled = client.Cancel(pb.CancelRequest(interaction_id="i1", reason="hung up"))
    assert cancelled.state == pb.INTERACTION_STATE_CANCELLED and cancelled.agent_id == ""
    assert client.get("i1").agent_id == ""
    assert client.get_agent("a1").load == []


def test_wrap_up_of_a_removed_agent_survives_a_restart() -> None:
    """An agent may be removed once its work is done, during the wrap-up of its last
    interaction; a restart then loads that interaction like any other, and it completes
    (found by the agents storm: the interaction was quarantined as having an unknown
    holder, served by GetInteraction but NOT_FOUND to Complete, and never completed)."""
    policy = fast_policy(wrap_up_seconds=dict.fromkeys(Channel, 30.0))
    first = start_server(policy)
    servers = [first]
    try:
        client = first.client()
        client.agent("a1")
        client.enqueue("i1")
        client.Accept(pb.AcceptRequest(interaction_id="i1", agent_id="a1"))
        wrapping = client.Complete(pb.CompleteRequest(interaction_id="i1"))
        assert wrapping.state == WRAP_UP
        client.RemoveAgent(pb.RemoveAgentRequest(agent_id="a1"))
        first.stop()
        servers.append(second := start_server(policy, settings=first.settings))
        client = second.client()
        assert client.GetStats(pb.GetStatsRequest()).quarantined == 0
        done = client.Complete(pb.CompleteRequest(interaction_id="i1", disposition="sold"))
        assert done.state == pb.INTERACTION_STATE_COMPLETED and done.agent_id == "a1"
    finally:
        for running in servers:
            running.stop()
        drop_prefix(first.settings.prefix)


def test_warm_transfer_to_a_named_agent_in_flight_at_a_restart_fails_back() -> None:
    """A restart withdraws the offer of a pending warm transfer to a named agent; the
    transfer then fails and the first agent keeps the interaction, as when the target
    rejects (found by the lifecycle storm: routing offered it to whoever was best, while
    the pending transfer still named its target)."""
    policy = fast_policy(offer_timeout_seconds=30.0)
    first = start_server(policy)
    servers = [first]
    try:
        client = first.client()
        client.agent("a1")
        client.enqueue("i1")
        client.Accept(pb.AcceptRequest(interaction_id="i1", agent_id="a1"))
        client.agent("idle", skills={"sales": 10})  # longest idle: routing's first choice
        client.agent("a2")
        to_a2 = pb.TransferRequest(interaction_id="i1", mode=pb.TRANSFER_MODE_WARM, agent_id="a2")
        assert client.Transfer(to_a2).offer.agent_id == "a2"
        first.stop()
        servers.append(second := start_server(policy, settings=first.settings))
        client = second.client()
        i = client.get("i1")
        assert i.state == pb.INTERACTION_STATE_ASSIGNED and i.agent_id == "a1"
        assert not i.HasField("transfer") and not i.HasField("offer")
        assert pb.EVENT_TYPE_TRANSFER_FAILED in [e.type for e in i.history]
        assert [client.get_agent(a).load for a in ("idle", "a2")] == [[], []]
        assert client.Transfer(to_a2).offer.agent_id == "a2"  # the holder may try again
    finally:
        for running in servers:
            running.stop()
        drop_prefix(first.settings.prefix)
