"""Enum names in and out: `"chat"` for `CHANNEL_CHAT`, `"available"` for `AGENT_STATE_AVAILABLE`."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.descriptor import EnumDescriptor

from cim_router._pb import router_pb2 as pb

# A value given by short name ("chat", "not-ready") or as the protobuf enum value.
ChannelLike = str | int
AgentStateLike = str | int
TransferModeLike = str | int


@dataclass(frozen=True)
class _Enum:
    enum: EnumDescriptor
    prefix: str
    what: str

    def value(self, given: str | int) -> int:
        if isinstance(given, int):
            if given not in self.enum.values_by_number:
                raise ValueError(f"unknown {self.what}: {given}")
            return given
        key = self.prefix + given.strip().upper().replace("-", "_")
        if key not in self.enum.values_by_name or key.endswith("_UNSPECIFIED"):
            expected = ", ".join(self.names())
            raise ValueError(f"unknown {self.what}: {given!r} (expected one of {expected})")
        return self.enum.values_by_name[key].number

    def name(self, value: int) -> str:
        return self.enum.values_by_number[value].name.removeprefix(self.prefix).lower()

    def names(self) -> list[str]:
        return [self.name(v.number) for v in self.enum.values if v.number]


CHANNELS = _Enum(pb.Channel.DESCRIPTOR, "CHANNEL_", "channel")
AGENT_STATES = _Enum(pb.AgentState.DESCRIPTOR, "AGENT_STATE_", "agent state")
INTERACTION_STATES = _Enum(
    pb.InteractionState.DESCRIPTOR, "INTERACTION_STATE_", "interaction state"
)
TRANSFER_MODES = _Enum(pb.TransferMode.DESCRIPTOR, "TRANSFER_MODE_", "transfer mode")
EVENTS = _Enum(pb.EventType.DESCRIPTOR, "EVENT_TYPE_", "event type")
ASSIGNMENT_EVENTS = _Enum(
    pb.AssignmentEventType.DESCRIPTOR, "ASSIGNMENT_EVENT_TYPE_", "assignment event"
)


def channel(given: ChannelLike) -> pb.Channel.ValueType:
    """`"chat"` (or `pb.CHANNEL_CHAT`) -> `pb.CHANNEL_CHAT`; ValueError for an unknown name."""
    return pb.Channel.ValueType(CHANNELS.value(given))


def agent_state(given: AgentStateLike) -> pb.AgentState.ValueType:
    """`"available"`, `"not_ready"` or `"not-ready"` -> the AgentState value."""
    return pb.AgentState.ValueType(AGENT_STATES.value(given))


def transfer_mode(given: TransferModeLike) -> pb.TransferMode.ValueType:
    """`"warm"` or `"cold"` -> the TransferMode value."""
    return pb.TransferMode.ValueType(TRANSFER_MODES.value(given))


def channel_name(value: int) -> str:
    """`pb.CHANNEL_CHAT` -> `"chat"`."""
    return CHANNELS.name(value)


def agent_state_name(value: int) -> str:
    """`pb.AGENT_STATE_NOT_READY` -> `"not_ready"`."""
    return AGENT_STATES.name(value)


def interaction_state_name(value: int) -> str:
    """`pb.INTERACTION_STATE_QUEUED` -> `"queued"`."""
    return INTERACTION_STATES.name(value)


def event_name(value: int) -> str:
    """`pb.EVENT_TYPE_OFFER_EXPIRED` -> `"offer_expired"`."""
    return EVENTS.name(value)


def assignment_event_name(value: int) -> str:
    """`pb.ASSIGNMENT_EVENT_TYPE_OFFERED` -> `"offered"`."""
    return ASSIGNMENT_EVENTS.name(value)
