"""Request messages from keyword arguments; shared by the async and the sync client."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf import struct_pb2

from cim_router._pb import router_pb2 as pb
from cim_router.client.names import (
    AgentStateLike,
    ChannelLike,
    TransferModeLike,
    agent_state,
    channel,
    transfer_mode,
)

# Skills as {name: minimum level}, or names alone (minimum level 1).
Skills = Mapping[str, int] | Iterable[str]


def requirements(skills: Skills | None) -> list[pb.SkillRequirement]:
    if skills is None:
        return []
    if isinstance(skills, Mapping):
        return [pb.SkillRequirement(skill=k, min_level=v) for k, v in skills.items()]
    if isinstance(skills, str):
        skills = [skills]
    return [pb.SkillRequirement(skill=name) for name in skills]


def struct(context: Mapping[str, Any] | None) -> struct_pb2.Struct | None:
    if context is None:
        return None
    out = struct_pb2.Struct()
    out.update(context)
    return out


def capacity(counts: Mapping[ChannelLike, int] | None) -> list[pb.ChannelCount]:
    if not counts:
        return []
    return [pb.ChannelCount(channel=channel(c), count=n) for c, n in counts.items()]


def upsert_agent(
    agent_id: str,
    skills: Mapping[str, int] | None,
    tier: int,
    state: AgentStateLike | None,
    display_name: str,
    capacity_: Mapping[ChannelLike, int] | None,
    routing_profile: list[pb.QueueMembership] | None = None,
) -> pb.UpsertAgentRequest:
    return pb.UpsertAgentRequest(
        routing_profile=routing_profile or [],
        agent_id=agent_id,
        display_name=display_name,
        skills=dict(skills or {}),
        tier=tier,
        capacity=capacity(capacity_),
        state=pb.AGENT_STATE_UNSPECIFIED if state is None else agent_state(state),
    )


def list_agents(state: AgentStateLike | None, page_token: str = "") -> pb.ListAgentsRequest:
    """One page, of the server's default size."""
    return pb.ListAgentsRequest(
        state=pb.AGENT_STATE_UNSPECIFIED if state is None else agent_state(state),
        page_token=page_token,
    )


def enqueue(
    interaction_id: str,
    *,
    channel_: ChannelLike,
    required: Skills | None,
    preferred: Skills | None,
    priority: int,
    customer_id: str,
    customer_tier: str,
    sla_seconds: float,
    preferred_agent_id: str,
    context: Mapping[str, Any] | None,
    queue_id: str = "",
    outbound: bool = False,
    not_before: float | None = None,
) -> pb.EnqueueRequest:
    out = pb.EnqueueRequest(
        direction=pb.DIRECTION_OUTBOUND if outbound else pb.DIRECTION_UNSPECIFIED,
        queue_id=queue_id,
        interaction_id=interaction_id,
        customer_id=customer_id,
        channel=channel(channel_),
        required_skills=requirements(required),
        preferred_skills=requirements(preferred),
        priority=priority,
        customer_tier=customer_tier,
        sla_seconds=sla_seconds,
        preferred_agent_id=preferred_agent_id,
        context=struct(context),
    )
    if not_before is not None:
        out.not_before.FromNanoseconds(int(not_before * 1e9))
    return out


def assign(agent_id: str | None, interaction_id: str | None, wait: float) -> pb.AssignRequest:
    if (agent_id is None) == (interaction_id is None):
        raise TypeError("assign() takes exactly one of agent_id or interaction_id")
    if agent_id is not None:
        return pb.AssignRequest(agent_id=agent_id, wait=wait > 0)
    return pb.AssignRequest(interaction_id=interaction_id or "", wait=wait > 0)


def transfer(
    interaction_id: str,
    *,
    agent_id: str | None,
    required: Skills | None,
    queue: bool | str,
    mode: TransferModeLike,
    channel_: ChannelLike | None,
    reason: str,
    to_back: bool = False,
) -> pb.TransferRequest:
    """`queue=True`: back into its own queue; `queue="sales"`: into that one."""
    if sum((agent_id is not None, required is not None, queue is not False)) != 1:
        raise TypeError("transfer() takes exactly one of agent_id, required or queue")
    request = pb.TransferRequest(
        interaction_id=interaction_id,
        mode=transfer_mode(mode),
        channel=pb.CHANNEL_UNSPECIFIED if channel_ is None else channel(channel_),
        reason=reason,
    )
    if agent_id is not None:
        request.agent_id = agent_id
    elif required is not None:
        request.skills.SetInParent()
        request.skills.required_skills.extend(requirements(required))
    else:
        request.queue.SetInParent()
        request.queue.queue_id = "" if queue is True else str(queue)
        request.queue.to_back = to_back
    return request


def update_context(
    interaction_id: str, context: Mapping[str, Any] | None, remove: Iterable[str]
) -> pb.UpdateContextRequest:
    return pb.UpdateContextRequest(
        interaction_id=interaction_id, context=struct(context), remove_keys=list(remove)
    )
