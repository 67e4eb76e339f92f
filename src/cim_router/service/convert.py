"""Between the wire and the domain, inward: request messages checked and turned into domain
objects, every check naming the request field at fault as the client spelled it (answers
go out through responses.py)."""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Sequence
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.message import Message

from cim_router._pb import router_pb2 as pb
from cim_router.domain.agent import Agent, AgentState
from cim_router.domain.channel import DEFAULT_CAPACITY, Channel
from cim_router.domain.context import check_context, check_context_key
from cim_router.domain.errors import ValidationError
from cim_router.domain.interaction import (
    DEFAULT_QUEUE,
    Interaction,
    InteractionState,
    SkillRequirement,
    check_requirements,
)
from cim_router.domain.limits import (
    DEFAULT_PAGE_SIZE,
    MAX_CAPACITY,
    MAX_CSAT,
    MAX_PAGE_SIZE,
    MAX_PAGE_TOKEN_LENGTH,
    MAX_REASON_LENGTH,
    MAX_REMOVE_KEYS,
    MAX_SKILLS_PER_INTERACTION,
    MAX_TIER,
    MAX_WATCHED_AGENTS,
    MIN_TIER,
    check_count,
    check_id,
    check_text,
)
from cim_router.domain.queues import (
    MAX_DELAY_SECONDS,
    MAX_PROFILE_QUEUES,
    MAX_QUEUE_PRIORITY,
    Membership,
)
from cim_router.tenant.callbacks import MAX_ATTEMPTS as MAX_CALLBACK_ATTEMPTS
from cim_router.tenant.callbacks import MAX_RETRY_SECONDS, Terms
from cim_router.tenant.errors import InvalidArgument
from cim_router.tenant.records import TransferMode

# Domain field names -> request field names, most specific first.
_FIELD_NAMES = (
    ("interaction.preferred_agent", "preferred_agent_id"),
    ("interaction.required", "required_skills"),
    ("interaction.preferred", "preferred_skills"),
    ("interaction.id", "interaction_id"),
    ("interaction.", ""),
    ("agent.id", "agent_id"),
    ("agent.", ""),
)


def invalid(exc: ValidationError) -> InvalidArgument:
    """A domain validation error as the request's field names put it."""
    field = exc.field
    for domain, wire in _FIELD_NAMES:
        if field.startswith(domain):
            field = wire + field[len(domain) :]
            break
    return InvalidArgument(field, exc.reason)


class _WireNames:
    """A domain rule broken inside becomes InvalidArgument with the request's field names.

    A class, not a generator: every field of every request passes through one."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, ValidationError):
            raise invalid(exc) from None


_WIRE_NAMES = _WireNames()


def wire_names() -> _WireNames:
    return _WIRE_NAMES


def require_id(field: str, value: str) -> str:
    with wire_names():
        check_id(field, value)
    return value


def optional_id(field: str, value: str) -> str:
    return require_id(field, value) if value else ""


def text_in(field: str, value: str, max_length: int) -> str:
    with wire_names():
        check_text(field, value, max_length)
    return value


def reason_in(value: str, field: str = "reason") -> str:
    return text_in(field, value, MAX_REASON_LENGTH)


def csat_in(value: int) -> int:
    if not 0 <= value <= MAX_CSAT:
        raise InvalidArgument("csat", f"must be 1..{MAX_CSAT}, or 0 for none; got {value}")
    return value


def digest(message: Message) -> bytes:
    return hashlib.sha256(message.SerializeToString(deterministic=True)).digest()


# --- enums ----------------------------------------------------------------------------------


def channel_in(value: int, field: str, required: bool = True) -> Channel | None:
    if value == pb.CHANNEL_UNSPECIFIED:
        if required:
            raise InvalidArgument(field, "is required")
        return None
    if value not in _CHANNEL_VALUES:
        raise InvalidArgument(field, f"unknown channel {value}")
    return _CHANNELS[value - 1]


_CHANNEL_VALUES = frozenset(pb.Channel.values())
_CHANNELS = tuple(Channel)


def agent_state_in(value: int, field: str) -> AgentState | None:
    if value == pb.AGENT_STATE_UNSPECIFIED:
        return None
    if value not in pb.AgentState.values():
        raise InvalidArgument(field, f"unknown agent state {value}")
    return AgentState(value - 1)


def interaction_state_in(value: int, field: str) -> InteractionState | None:
    if value == pb.INTERACTION_STATE_UNSPECIFIED:
        return None
    if value not in pb.InteractionState.values():
        raise InvalidArgument(field, f"unknown interaction state {value}")
    return InteractionState(value - 1)


def settable_state_in(value: int, field: str) -> AgentState | None:
    """A state a client may set: any but WRAP_UP, which is the router's."""
    state = agent_state_in(value, field)
    if state == AgentState.WRAP_UP:
        raise InvalidArgument(field, "WRAP_UP is set by the router after Complete")
    return state


def transfer_mode_in(value: int) -> TransferMode:
    if value == pb.TRANSFER_MODE_UNSPECIFIED:
        raise InvalidArgument("mode", "is required (WARM or COLD)")
    if value not in pb.TransferMode.values():
        raise InvalidArgument("mode", f"unknown transfer mode {value}")
    return TransferMode(value)


# --- small values ---------------------------------------------------------------------------


def struct_in(value: struct_pb2.Struct, field: str = "context") -> dict[str, Any]:
    """A Struct as the JSON object it stands for, every rule of a context checked."""
    if not value.fields:
        return {}
    context = _object_in(value)
    with wire_names():
        check_context(field, context)
    return context


def _object_in(value: struct_pb2.Struct) -> dict[str, Any]:
    return {key: _value_in(item) for key, item in value.fields.items()}


def _value_in(value: struct_pb2.Value) -> Any:
    # As json_format.MessageToDict reads it, except that NaN and Infinity are kept for the
    # context check to name their path. The parser's nesting limit bounds the recursion.
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return _object_in(value.struct_value)
    if kind == "list_value":
        return [_value_in(item) for item in value.list_value.values]
    if kind == "number_value":
        return value.number_value
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    return None  # null_value, or no kind at all, which json_format reads as null too


def remove_keys_in(keys: Sequence[str]) -> list[str]:
    with wire_names():
        check_count("remove_keys", keys, MAX_REMOVE_KEYS, "keys")
        for k, key in enumerate(keys):
            check_context_key(f"remove_keys[{k}]", key)
    return list(keys)


def requirements_in(
    reqs: Sequence[pb.SkillRequirement], field: str
) -> tuple[SkillRequirement, ...]:
    """Skill requirements (min_level 0 means 1), held to the domain's one rule set for them,
    wherever in a request they come."""
    with wire_names():
        check_count(field, reqs, MAX_SKILLS_PER_INTERACTION, "skills")  # before converting
        out = tuple(SkillRequirement(r.skill, r.min_level or 1) for r in reqs)
        check_requirements(field, out)
    return out


# --- agents ---------------------------------------------------------------------------------


def agent_in(req: pb.UpsertAgentRequest) -> tuple[Agent, AgentState | None]:
    require_id("agent_id", req.agent_id)
    if not 0 <= req.tier <= MAX_TIER:
        raise InvalidArgument(
            "tier", f"must be {MIN_TIER}..{MAX_TIER} (0 means {MIN_TIER}), got {req.tier}"
        )
    agent = Agent(
        id=req.agent_id,
        display_name=req.display_name,
        skills=dict(req.skills),
        tier=req.tier or MIN_TIER,
        capacity=capacity_in(req.capacity),
        routing_profile=profile_in(req.routing_profile),
    )
    with wire_names():
        agent.validate()
    return agent, settable_state_in(req.state, "state")


def profile_in(entries: Sequence[pb.QueueMembership]) -> dict[str, Membership]:
    """A routing profile: each queue once; priority 1..10 (0 means 10); delay 0..86400 s."""
    if len(entries) > MAX_PROFILE_QUEUES:
        raise InvalidArgument("routing_profile", f"at most {MAX_PROFILE_QUEUES} queues")
    out: dict[str, Membership] = {}
    for k, entry in enumerate(entries):
        where = f"routing_profile[{k}]"
        require_id(f"{where}.queue_id", entry.queue_id)
        if entry.queue_id in out:
            raise InvalidArgument(f"{where}.queue_id", f"queue {entry.queue_id!r} is listed twice")
        priority = entry.priority or MAX_QUEUE_PRIORITY
        if not 1 <= priority <= MAX_QUEUE_PRIORITY:
            raise InvalidArgument(
                f"{where}.priority", f"must be 1..{MAX_QUEUE_PRIORITY} (0 means 10)"
            )
        delay = entry.delay_seconds
        if not 0 <= delay <= MAX_DELAY_SECONDS:  # NaN fails too
            raise InvalidArgument(f"{where}.delay_seconds", "must be 0..86400")
        out[entry.queue_id] = Membership(priority, delay)
    return out


def capacity_in(entries: Sequence[pb.ChannelCount]) -> dict[Channel, int]:
    """The default capacity, overridden for the channels listed, each at most once."""
    capacity = dict(DEFAULT_CAPACITY)
    first_at: dict[Channel, int] = {}
    for k, entry in enumerate(entries):  # a repeat ends it by the seventh entry
        channel = channel_in(entry.channel, f"capacity[{k}].channel")
        assert channel is not None
        if channel in first_at:
            raise InvalidArgument(
                f"capacity[{k}].channel",
                f"{channel.name} is listed twice (first at [{first_at[channel]}])",
            )
        first_at[channel] = k
        if not 0 <= entry.count <= MAX_CAPACITY:
            raise InvalidArgument(
                f"capacity[{k}].count", f"must be 0..{MAX_CAPACITY}, got {entry.count}"
            )
        capacity[channel] = entry.count
    return capacity


def watched_agents_in(agent_ids: Sequence[str]) -> frozenset[str] | None:
    """The agents a watch stream follows; None for every agent of the tenant."""
    with wire_names():
        check_count("agent_ids", agent_ids, MAX_WATCHED_AGENTS)
    for k, agent_id in enumerate(agent_ids):
        require_id(f"agent_ids[{k}]", agent_id)
    return frozenset(agent_ids) or None


def page_size_in(value: int, default: int = DEFAULT_PAGE_SIZE) -> int:
    if value == 0:
        return default
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise InvalidArgument(
            "page_size", f"must be 1..{MAX_PAGE_SIZE} (0 means {default}), got {value}"
        )
    return value


# A page token is the last agent id of the page before it, in unpadded urlsafe base64:
# opaque to clients, and stable while agents come and go.


def page_token_out(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def page_token_in(token: str) -> str:
    """The agent id a page starts after; "" for the first page."""
    if not token:
        return ""
    try:
        if len(token) > MAX_PAGE_TOKEN_LENGTH:
            raise ValueError(token)
        padded = token + "=" * (-len(token) % 4)
        after = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
        check_id("page_token", after)
    except ValueError:  # binascii.Error, UnicodeDecodeError and ValidationError are ones
        raise InvalidArgument("page_token", "is not a next_page_token this service gave") from None
    return after


def offset_token_in(token: str) -> int:
    """A place in an ordered listing, as `page_token_out(str(offset))` gave it; 0 for the
    first page."""
    after = page_token_in(token)
    if after and not (after.isdigit() and len(after) <= 9):
        raise InvalidArgument("page_token", "is not a next_page_token this service gave")
    return int(after) if after else 0


# --- interactions ---------------------------------------------------------------------------


def interaction_in(req: pb.EnqueueRequest) -> Interaction:
    require_id("interaction_id", req.interaction_id)
    optional_id("customer_id", req.customer_id)
    optional_id("queue_id", req.queue_id)
    channel = channel_in(req.channel, "channel")
    assert channel is not None
    interaction = Interaction(
        id=req.interaction_id,
        channel=channel,
        customer_id=req.customer_id,
        required=requirements_in(req.required_skills, "required_skills"),
        preferred=requirements_in(req.preferred_skills, "preferred_skills"),
        priority=req.priority,
        customer_tier=req.customer_tier or "standard",
        sla_seconds=req.sla_seconds,
        preferred_agent=req.preferred_agent_id,
        context=struct_in(req.context),
        queue_id=req.queue_id or DEFAULT_QUEUE,
    )
    with wire_names():
        interaction.validate()
    return interaction


# --- operations -----------------------------------------------------------------------------


# --- scheduling and callbacks -----------------------------------------------------------------

MAX_AHEAD_SECONDS = 366 * 86_400.0  # not_before at most a year ahead


def terms_in(req: pb.EnqueueRequest, now: float) -> Terms:
    """An Enqueue's direction and not_before (a past or unset time: now)."""
    if req.direction not in pb.Direction.values():
        raise InvalidArgument("direction", f"unknown direction {req.direction}")
    outbound = req.direction == pb.DIRECTION_OUTBOUND
    if not req.HasField("not_before"):
        return Terms(outbound)
    at = req.not_before.seconds + req.not_before.nanos / 1e9
    if not 0 <= req.not_before.nanos < 1_000_000_000 or at > now + MAX_AHEAD_SECONDS:
        raise InvalidArgument("not_before", "must be a valid time at most a year ahead")
    return Terms(outbound, at if at > now else 0.0)


def callback_in(req: pb.RequestCallbackRequest) -> tuple[str, int, float]:
    """(address, max attempts, retry seconds) of a RequestCallback; 0: the defaults."""
    require_id("interaction_id", req.interaction_id)
    if not req.address:
        raise InvalidArgument("address", "must not be empty")
    if len(req.address) > 256 or not req.address.isprintable():
        raise InvalidArgument("address", "must be 1..256 printable characters")
    if not 0 <= req.max_attempts <= MAX_CALLBACK_ATTEMPTS:
        raise InvalidArgument("max_attempts", f"must be 0..{MAX_CALLBACK_ATTEMPTS} (0: default)")
    retry = req.retry_seconds
    if not (math.isfinite(retry) and 0 <= retry <= MAX_RETRY_SECONDS):
        raise InvalidArgument("retry_seconds", "must be 0 .. 7 days (0: default)")
    return req.address, req.max_attempts, retry
