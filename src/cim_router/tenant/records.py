"""What the store keeps: agents and interactions with their service-side bookkeeping."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TypeVar

from cim_router.domain.agent import Agent
from cim_router.domain.channel import Channel
from cim_router.domain.interaction import Interaction, SkillRequirement
from cim_router.domain.queues import Queue
from cim_router.routing.explain import Explanation

T = TypeVar("T")


def _copy(obj: T) -> T:
    """A shallow copy of a (non-frozen) dataclass instance, several times cheaper than
    `dataclasses.replace`, which runs `__init__` again."""
    out = object.__new__(type(obj))
    out.__dict__.update(obj.__dict__)
    return out


class TransferMode(enum.IntEnum):
    WARM = 1
    COLD = 2


class EventType(enum.IntEnum):
    """History events; the values match the wire enum."""

    ENQUEUED = 1
    LINKED = 2
    OFFERED = 3
    ACCEPTED = 4
    REJECTED = 5
    OFFER_EXPIRED = 6
    OFFER_WITHDRAWN = 7
    REQUEUED = 8
    TRANSFER_REQUESTED = 9
    TRANSFERRED = 10
    TRANSFER_FAILED = 11
    CHANNEL_CHANGED = 12
    ESCALATED = 13
    CONTEXT_UPDATED = 14
    WRAP_UP_STARTED = 15
    COMPLETED = 16
    CANCELLED = 17
    TRANSFER_CANCELLED = 18
    EXCLUSION_LAPSED = 19
    RULE_FIRED = 20
    QUEUE_CHANGED = 21
    HELD = 22
    RESUMED = 23
    HOLD_LIMIT_EXCEEDED = 24
    FEEDBACK_REQUESTED = 25
    FEEDBACK_RECEIVED = 26
    CALLBACK_REQUESTED = 27
    CALLBACK_ATTEMPTED = 28
    RELEASED = 29


@dataclass(frozen=True)
class Event:
    """One entry of an interaction's history."""

    at: float
    type: EventType
    interaction_id: str
    channel: Channel
    agent_id: str = ""
    reason: str = ""
    caller: str = ""  # who made the change (see tenant/caller.py); "router" for its own
    queue_id: str = ""  # QUEUE_CHANGED: the queue it moved to; RULE_FIRED: the rule's queue
    rule: str = ""  # RULE_FIRED: the rule's name


@dataclass(frozen=True)
class CallbackAttempt:
    at: float
    outcome: str  # the disposition Complete gave
    agent_id: str


@dataclass(frozen=True)
class Callback:
    """Waiting work turned into a callback (RequestCallback): where to call, how often to
    try, and the attempts so far."""

    address: str
    max_attempts: int
    retry_seconds: float
    requested_at: float
    attempts: tuple[CallbackAttempt, ...] = ()


@dataclass
class AgentRecord:
    agent: Agent
    missed_offers: int = 0
    wrap_up_until: float = 0.0

    def snapshot(self) -> AgentRecord:
        """A copy that later changes to this record do not reach."""
        out = _copy(self)
        out.agent = agent = _copy(self.agent)
        agent.load, agent.handle_time = dict(agent.load), dict(agent.handle_time)
        return out


@dataclass(frozen=True)
class Offer:
    """A reservation of one agent for an interaction, until `expires_at`."""

    agent_id: str
    channel: Channel
    offered_at: float
    expires_at: float
    transfer: bool = False


@dataclass(frozen=True)
class PendingTransfer:
    mode: TransferMode
    target_agent: str  # empty: routing picks the target
    channel: Channel
    required: tuple[SkillRequirement, ...]
    reason: str = ""


@dataclass
class InteractionRecord:
    interaction: Interaction
    agent_id: str = ""  # the agent holding it: ASSIGNED, WRAP_UP, COMPLETED
    offer: Offer | None = None
    transfer: PendingTransfer | None = None
    linked_interaction_id: str = ""
    disposition: str = ""
    csat: int = 0
    assigned_at: float = 0.0
    answered: bool = False  # counted once, at the first accept
    wrap_up_until: float = 0.0
    request_digest: bytes = b""
    explanation: Explanation | None = None
    arrival: int = 0  # the tenant's arrival counter at enqueue: ties in the queue follow it
    # When each exclusion in `interaction.excluded_agents` lapses (agent id -> time).
    exclusions: dict[str, float] = field(default_factory=dict)
    # Overflow rules that fired for it, oldest first, as "queue/rule" (each fires once).
    rules_fired: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # set by automation rules, in the order they were added
    outbound: bool = False  # direction outbound (proactive work, callbacks)
    # Held out of routing until then (scheduled work, a callback's retry); 0: not held.
    not_before: float = 0.0
    callback: Callback | None = None
    repeat: bool = False  # counted as a repeat contact at enqueue (docs/measures.md)
    # Holds (tenant/holds.py): when the running one started (0: not on hold), how many
    # started, the seconds of those ended, and whether the running one passed the limit.
    hold_started_at: float = 0.0
    hold_count: int = 0
    hold_seconds: float = 0.0
    hold_limit_raised: bool = False
    # The hold that ended last, for the metrics of its transition; not stored.
    last_hold_seconds: float = field(default=0.0, compare=False)
    # Feedback (tenant/feedback.py): when it became COMPLETED, and the survey's answers.
    completed_at: float = 0.0
    feedback_comment: str = ""
    feedback_fields: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.interaction.id

    def snapshot(self) -> InteractionRecord:
        """A copy that later changes to this record do not reach (its nested values are
        replaced, never changed in place, so a shallow copy of each level is enough)."""
        out = _copy(self)
        out.interaction = _copy(self.interaction)
        return out


@dataclass(frozen=True)
class CustomerRecord:
    """A customer's latest interaction and the agent who last served them."""

    customer_id: str
    last_interaction_id: str
    last_agent_id: str = ""
    last_served_at: float = 0.0


@dataclass(frozen=True)
class Erasure:
    """A customer forgotten (ForgetCustomer): the store deletes their customer record and
    index, the history of `interaction_ids`, and the event stream's entries naming those
    interactions: `stream_entries`, found by a scan up to `scanned_to` before the change,
    and any entry after `scanned_to` that names one of them. The interaction records are
    written anonymous in the same transition, as any changed record."""

    customer_id: str
    interaction_ids: tuple[str, ...]
    stream_entries: tuple[str, ...] = ()
    scanned_to: str = ""  # "" when the scan saw no entry: the whole stream is scanned


# Since the tenant began (Stats.offered ...); "answered_in_sla" is no longer written: the
# measures' tallies (tenant/tallies.py) count answers within target.
COUNTERS = ("offered", "answered", "answered_in_sla", "abandoned", "completed")


@dataclass(frozen=True)
class RequestKey:
    """A mutating call's request id (`x-cim-request-id`), its method and a digest of its
    request, so that a retry is recognised and a reused id with another request is not."""

    id: str
    method: str
    digest: bytes


@dataclass(frozen=True)
class RequestOutcome:
    """What a call with a request id did, kept with its change: a retry answers from it."""

    request_id: str
    method: str
    digest: bytes
    entity: str = ""  # the interaction or agent the call acted on
    created: bool = False  # Enqueue: whether the first call created the interaction


@dataclass
class Transition:
    """Everything one decision writes, applied by the store all at once."""

    interactions: list[InteractionRecord] = field(default_factory=list)
    agents: list[AgentRecord] = field(default_factory=list)
    removed_agents: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    customers: list[CustomerRecord] = field(default_factory=list)
    request: RequestOutcome | None = None
    create: str = ""  # an interaction created here: the store refuses it if it exists
    new_tenant: bool = False  # the tenant's first write: it joins the tenant set
    quarantined: list[str] = field(default_factory=list)  # keys of bad records found at load
    erasures: list[Erasure] = field(default_factory=list)
    # The measures' tallies (tenant/tallies.py): (minute bucket, "queue|channel|name") -> n.
    tallies: dict[tuple[int, str], float] = field(default_factory=dict)
    queues: list[Queue] = field(default_factory=list)  # queues created or changed
    removed_queues: list[str] = field(default_factory=list)

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    def tally(self, bucket: int, name: str, n: float) -> None:
        key = (bucket, name)
        self.tallies[key] = self.tallies.get(key, 0) + n

    def __bool__(self) -> bool:
        return bool(
            self.interactions
            or self.agents
            or self.removed_agents
            or self.events
            or self.counters
            or self.customers
            or self.request
            or self.new_tenant
            or self.quarantined
            or self.erasures
            or self.tallies
            or self.queues
            or self.removed_queues
        )
