"""What the fuzz suite holds the server to: a snapshot of a tenant, its consistency, and
an INVALID_ARGUMENT that names a field of the request."""

from __future__ import annotations

import ast
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import text_format
from google.protobuf.descriptor import Descriptor, MethodDescriptor
from google.protobuf.message import Message
from hypothesis import Phase

from cim_router._pb import router_pb2 as pb
from cim_router.domain.channel import Channel
from cim_router.service.metadata import REQUEST_HEADER, TENANT_HEADER
from cim_router.tenant.registry import TenantLimits
from tests.service.conftest import fast_policy
from tests.service.steady import RowKey, measures_differ, moved_windows
from tests.service.test_bad_input import (
    AGENTS,
    INTERACTIONS,
)

OK = grpc.StatusCode.OK
INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
ALREADY_EXISTS = grpc.StatusCode.ALREADY_EXISTS
DEADLINE = grpc.StatusCode.DEADLINE_EXCEEDED
ALLOWED = {
    OK,
    INVALID,
    NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    ALREADY_EXISTS,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.OUT_OF_RANGE,  # WatchEvents after an id older than the stream
}
# Calls that read: they change nothing, whatever they answer.
READS = frozenset(
    {"GetAgent", "ListAgents", "GetInteraction", "Explain", "GetStats", "ListTenants", "ListAudit"}
    | {"GetQueue", "ListQueues", "ListInteractions"}
    | {"GetCustomer"}
)
# Streams: they change nothing, and run until their deadline.
STREAMS = frozenset({"WatchAssignments", "WatchEvents"})
# Tenants the fuzz creates and deletes by CreateTenant/DeleteTenant: never those it routes in.
SPARE_TENANTS = ("fz-spare-1", "fz-spare-2")
# Writes that may create their tenant; every other call needs one that exists.
CREATORS = frozenset({"UpsertAgent", "Enqueue", "UpsertQueue"})
AGENT_REPLIES = frozenset({"UpsertAgent", "SetAgentState", "GetAgent"})
# Calls whose retry answers with the entity as it is now: NOT_FOUND once it is gone.
GONE_ON_RETRY = AGENT_REPLIES | {"UpsertQueue"}
INTERACTION_REPLIES = frozenset(
    {"Accept", "Reject", "Complete", "Cancel", "Transfer", "Escalate", "CancelTransfer"}
    | {"UpdateContext", "RequestCallback"}
    | {"Hold", "Resume", "SubmitFeedback"}
)

AGENT_POOL = (*AGENTS, "a3")
INTERACTION_POOL = (*INTERACTIONS, "i4", "i5", "i6")
SKILLS = ("billing", "tech", "sales")
QUEUE_POOL = ("default", "billing", "vip", "q-never")
CUSTOMERS = ("cust-1", "cust-2")
CHANNELS = (pb.CHANNEL_CHAT, pb.CHANNEL_EMAIL, pb.CHANNEL_VOICE, pb.CHANNEL_SMS)
SETTABLE = (pb.AGENT_STATE_OFFLINE, pb.AGENT_STATE_AVAILABLE, pb.AGENT_STATE_NOT_READY)
# ListInteractions lists the open interactions and those in wrap-up.
LISTED_STATES = frozenset(
    {
        pb.INTERACTION_STATE_QUEUED,
        pb.INTERACTION_STATE_OFFERED,
        pb.INTERACTION_STATE_ASSIGNED,
        pb.INTERACTION_STATE_WRAP_UP,
    }
)
OPEN = (
    pb.INTERACTION_STATE_QUEUED,
    pb.INTERACTION_STATE_OFFERED,
    pb.INTERACTION_STATE_ASSIGNED,
)

HOUR = 3600.0
# Nothing time-driven may change state between two snapshots: offers, wrap-ups and
# exclusions outlast the run, and nothing relaxes. SMS has no wrap-up, so that Complete
# also closes an interaction at once.
POLICY = fast_policy(
    offer_timeout_seconds=HOUR,
    wrap_up_seconds={**dict.fromkeys(Channel, HOUR), Channel.SMS: 0.0},
    exclusion_seconds=HOUR,
    relaxation=(),
)
# One watch stream and one waiting Assign per tenant, so that the caps are reached too.
LIMITS = TenantLimits(max_watch_streams=1, max_parked_assigns=1, max_event_streams=1)
# Header values grpc's client refuses to send (sent over HTTP/2 by hand): control
# characters, and a byte that is no character at all once decoded as Latin-1.
UNPRINTABLE = (b"a\x01b", b"\x00", b"tab\there", b"del\x7f", b"c1\x80")
WATCH_SECONDS = 0.05  # a watch step's stream is ended by its deadline
WAIT_SECONDS = 0.15  # the deadline of an Assign that waits

Metadata = tuple[tuple[str, str | bytes], ...]  # bytes: what no grpc client sends
PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink, Phase.explain)


# --- what the server holds -----------------------------------------------------------------


def _bytes(message: Message) -> bytes:
    if isinstance(message, pb.Interaction) and message.on_hold:
        message = steady_interaction(message)
    return message.SerializeToString(deterministic=True)


def steady_interaction(interaction: pb.Interaction) -> pb.Interaction:
    """An interaction but for what moves with the clock: a running hold's seconds."""
    if not interaction.on_hold:
        return interaction
    out = pb.Interaction()
    out.CopyFrom(interaction)
    out.ClearField("hold_seconds")
    return out


def _without_history(interaction: pb.Interaction) -> pb.Interaction:
    out = pb.Interaction()
    out.CopyFrom(interaction)
    out.ClearField("history")
    return out


@dataclass
class Snap:
    """A tenant as its reads show it: every agent (all pages), every interaction the run
    used (None if not found), the stats without their clock-driven fields."""

    agents: dict[str, pb.Agent]
    interactions: dict[str, pb.Interaction | None]
    stats: pb.Stats
    queues: dict[str, pb.Queue] = field(default_factory=dict)  # ListQueues, definitions only
    # Each measures row's start, which `stats` leaves out: whether a window moved on.
    starts: dict[RowKey, int] = field(default_factory=dict)

    def key(self) -> tuple[object, ...]:
        return (
            tuple((k, _bytes(a)) for k, a in self.agents.items()),
            tuple((k, None if i is None else _bytes(i)) for k, i in self.interactions.items()),
            _bytes(self.stats),
            tuple((k, _bytes(q)) for k, q in sorted(self.queues.items())),
        )

    def same(self, other: Snap) -> bool:
        return self.key() == other.key()

    def same_later(self, other: Snap) -> bool:
        """`same`, read again later with nothing done in between: a measures window that
        moved on meanwhile (the 15 minutes, every minute; "today", at a queue's midnight)
        may have let counts go (tests/service/steady.py `measures_differ`)."""
        return self.same(other) or self.why_not_same_later(other) is None

    def why_not_same_later(self, other: Snap) -> str | None:
        moved = moved_windows(self.starts, other.starts)
        if self.without_measures(moved).key() != other.without_measures(moved).key():
            return "more than the measures differ"
        return measures_differ(self.stats, other.stats, moved)

    def without_measures(self, moved: set[str]) -> Snap:
        stats = pb.Stats()
        stats.CopyFrom(self.stats)
        del stats.measures[:]
        if "today" in moved:
            stats.ClearField("service_level")  # the tenant's since midnight
        return Snap(self.agents, self.interactions, stats, self.queues)

    def diff(self, other: Snap) -> str:
        """What differs from `other`, readably."""
        lines: list[str] = []
        for agent_id in sorted(set(self.agents) | set(other.agents)):
            a, b = self.agents.get(agent_id), other.agents.get(agent_id)
            if a is None or b is None or _bytes(a) != _bytes(b):
                lines.append(f"agent {agent_id!r}:\n  {_text(a)}\n  -> {_text(b)}")
        for iid in sorted(set(self.interactions) | set(other.interactions)):
            x, y = self.interactions.get(iid), other.interactions.get(iid)
            if (x is None) != (y is None) or (x and y and _bytes(x) != _bytes(y)):
                lines.append(f"interaction {iid!r}:\n  {_text(x)}\n  -> {_text(y)}")
        if _bytes(self.stats) != _bytes(other.stats):
            lines.append(f"stats:\n  {_text(self.stats)}\n  -> {_text(other.stats)}")
        for queue_id in sorted(set(self.queues) | set(other.queues)):
            p, q = self.queues.get(queue_id), other.queues.get(queue_id)
            if p is None or q is None or _bytes(p) != _bytes(q):
                lines.append(f"queue {queue_id!r}:\n  {_text(p)}\n  -> {_text(q)}")
        return "\n".join(lines)

    def present(self) -> dict[str, pb.Interaction]:
        return {k: v for k, v in self.interactions.items() if v is not None}


def _text(message: Message | None) -> str:
    return "absent" if message is None else text_format.MessageToString(message, as_one_line=True)


def check_consistent(tenant: str, snap: Snap) -> None:
    """What must hold of any state: every agent's load is what it holds and is offered,
    within capacity; records agree with their state; the stats count what is there."""
    found = snap.present()
    expected: dict[str, Counter[int]] = {a: Counter() for a in snap.agents}
    for iid, i in found.items():
        where = f"{tenant}: interaction {iid!r} {_text(i)}"
        has_offer = i.HasField("offer")
        has_transfer = i.HasField("transfer")
        if i.state == pb.INTERACTION_STATE_QUEUED:
            assert not has_offer and not has_transfer and not i.agent_id, where
        elif i.state == pb.INTERACTION_STATE_OFFERED:
            assert has_offer and not i.offer.transfer and not has_transfer, where
            assert not i.agent_id, where
        elif i.state == pb.INTERACTION_STATE_ASSIGNED:
            assert i.agent_id in snap.agents, where
            assert not has_offer or (has_transfer and i.offer.transfer), where
            expected[i.agent_id][i.channel] += 1
        else:
            assert not has_offer and not has_transfer, where
        if has_offer:
            assert i.offer.agent_id in snap.agents, where
            assert i.offer.agent_id != i.agent_id, where
            # A transfer to a named agent is offered to that agent, or to no one.
            assert not has_transfer or i.transfer.agent_id in ("", i.offer.agent_id), where
            expected[i.offer.agent_id][i.offer.channel] += 1
    by_state: Counter[int] = Counter()
    for agent_id, agent in snap.agents.items():
        load = {c.channel: c.count for c in agent.load}
        capacity = {c.channel: c.count for c in agent.capacity}
        assert load == dict(expected[agent_id]), f"{tenant}: load of {_text(agent)}"
        for channel, n in load.items():
            assert n <= capacity.get(channel, 0), f"{tenant}: over capacity: {_text(agent)}"
        assert not load or agent.state != pb.AGENT_STATE_OFFLINE, f"{tenant}: {_text(agent)}"
        by_state[agent.state] += 1
    stats = snap.stats
    queued = [i for i in found.values() if i.state == pb.INTERACTION_STATE_QUEUED]
    held = [i for i in queued if i.HasField("not_before")]  # scheduled: not waiting yet
    queued = [i for i in queued if not i.HasField("not_before")]
    assert stats.waiting == len(queued), f"{tenant}: {_text(stats)}"
    assert stats.held == len(held), f"{tenant}: {_text(stats)}"
    by_channel = Counter(i.channel for i in queued)
    assert {c.channel: c.count for c in stats.waiting_by_channel} == by_channel, tenant
    by_skill = Counter(r.skill for i in queued for r in i.required_skills)
    assert {c.skill: c.count for c in stats.waiting_by_skill} == by_skill, tenant
    assert {c.state: c.count for c in stats.agents_by_state} == dict(by_state), tenant
    assert stats.quarantined == 0, f"{tenant}: {_text(stats)}"


# --- INVALID_ARGUMENT names a field ----------------------------------------------------------

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INDEX = re.compile(r"\[(\d+)\]")
_KEY = re.compile(r"""\[('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")(\.\.\.)?\]""")


def check_names_a_field(method: MethodDescriptor, request: Message, details: str) -> None:
    """`PATH: reason`, PATH a field of the request as it spells it, walked through the
    request: `skills.required_skills[2].min_level`, `capacity[1].count`, `skills['x']`,
    `context.a.b` (a context's path is the client's JSON), a oneof (`target`)."""
    if details.startswith((f"{TENANT_HEADER}: ", f"{REQUEST_HEADER}: ")):
        return
    where = f"{method.name}: {details!r}"
    assert not details.startswith("request:"), f"{where}: but the request decodes"
    descriptor: Descriptor = method.input_type
    message: Any = request
    pos = 0
    while True:
        found = _NAME.match(details, pos)
        assert found, f"{where}: no field name at {pos}"
        name, pos = found.group(), found.end()
        field_ = descriptor.fields_by_name.get(name)
        if field_ is None:
            assert name in descriptor.oneofs_by_name, f"{where}: {name!r} is no field"
            assert details.startswith(": ", pos), where
            return
        value = getattr(message, name)
        sub = field_.message_type
        if sub is not None and sub.full_name == "google.protobuf.Struct":
            return  # the rest is a path in the client's JSON
        if sub is not None and sub.GetOptions().map_entry:
            key = _KEY.match(details, pos)
            if key:
                literal, cut = ast.literal_eval(key.group(1)), key.group(2)
                assert any(k.startswith(literal) if cut else k == literal for k in value), where
                pos = key.end()
            assert details.startswith(": ", pos), where
            return
        if field_.is_repeated:
            index = _INDEX.match(details, pos)
            if index:
                n = int(index.group(1))
                assert n < len(value), f"{where}: [{n}] is past the {len(value)} given"
                value, pos = value[n], index.end()
            elif details.startswith(": ", pos):
                return
            else:
                raise AssertionError(f"{where}: a list needs an index or ': '")
        if details.startswith(": ", pos):
            return
        assert sub is not None and details.startswith(".", pos), where
        descriptor, message, pos = sub, value, pos + 1
