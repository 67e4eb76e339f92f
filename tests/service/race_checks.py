"""What must hold of a live router through a storm of concurrent clients and after it
(used by tests/service/races.py and test_races.py): what no single snapshot may show, and a
read of everything, checked across records and across a restart."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import grpc
import grpc.aio
from google.protobuf import text_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from cim_router._pb import router_pb2 as pb
from cim_router.domain.channel import DEFAULT_CAPACITY, Channel
from cim_router.domain.policy import Policy
from tests.service.conftest import Client, wait_for

if TYPE_CHECKING:
    pass

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
