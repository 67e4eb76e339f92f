"""The `cim_router.v1.Router` gRPC service: wire in, lifecycle call, wire out."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from cim_router._pb import router_pb2 as pb
from cim_router._pb import router_pb2_grpc
from cim_router.domain.errors import ValidationError
from cim_router.domain.limits import MAX_DISPOSITION_LENGTH
from cim_router.service import agents, convert, pull, reports, transfers
from cim_router.service.errors import InvalidArgument, ServiceError
from cim_router.service.lifecycle import TenantRouter
from cim_router.service.metadata import tenant_from_metadata
from cim_router.service.tenants import Tenants

# Leave this much of a waiting Assign's deadline to deliver the answer.
DEADLINE_MARGIN = 0.05

Req = TypeVar("Req")
Resp = TypeVar("Resp")
Context = grpc.aio.ServicerContext[Any, Any]
Handler = Callable[[Any, Req, Context], Awaitable[Resp]]


def refusal(exc: ServiceError | ValidationError) -> ServiceError:
    return convert.invalid(exc) if isinstance(exc, ValidationError) else exc


def rpc(fn: Handler[Req, Resp]) -> Handler[Req, Resp]:
    """Report refusals with their status code; a client's mistake is never INTERNAL."""

    @functools.wraps(fn)
    async def wrapper(self: Any, request: Req, context: Context) -> Resp:
        try:
            return await fn(self, request, context)
        except (ServiceError, ValidationError) as exc:
            err = refusal(exc)
            await context.abort(err.code, err.message)
        raise AssertionError("unreachable")  # pragma: no cover - abort raises

    return wrapper


def _wait_seconds(context: Context, wait: bool) -> float:
    if not wait:
        return 0.0
    remaining = context.time_remaining()
    if remaining is None:
        raise InvalidArgument("wait", "needs a call deadline")
    return max(0.0, remaining - DEADLINE_MARGIN)


class RouterServicer(router_pb2_grpc.RouterServicer):
    """Each RPC checks every field of its request before it touches a tenant, so that a
    refused request changes nothing."""

    def __init__(self, tenants: Tenants) -> None:
        self.tenants = tenants

    async def _router(self, context: Context) -> TenantRouter:
        return await self.tenants.get(tenant_from_metadata(context.invocation_metadata()))

    # --- agents ---------------------------------------------------------------------------

    @rpc
    async def UpsertAgent(self, request: pb.UpsertAgentRequest, context: Context) -> pb.Agent:
        agent, state = convert.agent_in(request)
        router = await self._router(context)
        return convert.agent_out(await agents.upsert_agent(router, agent, state))

    @rpc
    async def SetAgentState(self, request: pb.SetAgentStateRequest, context: Context) -> pb.Agent:
        convert.require_id("agent_id", request.agent_id)
        state = convert.settable_state_in(request.state, "state")
        if state is None:
            raise InvalidArgument("state", "is required")
        convert.reason_in(request.reason)
        router = await self._router(context)
        return convert.agent_out(
            await agents.set_agent_state(router, request.agent_id, state, request.reason)
        )

    @rpc
    async def GetAgent(self, request: pb.GetAgentRequest, context: Context) -> pb.Agent:
        convert.require_id("agent_id", request.agent_id)
        router = await self._router(context)
        return convert.agent_out(await agents.get_agent(router, request.agent_id))

    @rpc
    async def ListAgents(
        self, request: pb.ListAgentsRequest, context: Context
    ) -> pb.ListAgentsResponse:
        state = convert.agent_state_in(request.state, "state")
        size = convert.page_size_in(request.page_size)
        after = convert.page_token_in(request.page_token)
        router = await self._router(context)
        found, more = await agents.list_agents(router, state, after, size)
        return convert.agents_page_out(found, more)

    @rpc
    async def RemoveAgent(
        self, request: pb.RemoveAgentRequest, context: Context
    ) -> pb.RemoveAgentResponse:
        convert.require_id("agent_id", request.agent_id)
        router = await self._router(context)
        await agents.remove_agent(router, request.agent_id)
        return pb.RemoveAgentResponse()

    # --- interactions ---------------------------------------------------------------------

    @rpc
    async def Enqueue(self, request: pb.EnqueueRequest, context: Context) -> pb.EnqueueResponse:
        interaction = convert.interaction_in(request)
        router = await self._router(context)
        rec, created, position, wait = await router.enqueue(interaction, convert.digest(request))
        return pb.EnqueueResponse(
            interaction=convert.interaction_out(rec),
            position=position,
            estimated_wait_seconds=wait,
            created=created,
        )

    @rpc
    async def Assign(self, request: pb.AssignRequest, context: Context) -> pb.AssignResponse:
        target = request.WhichOneof("target")
        if target is None:
            raise InvalidArgument("target", "set agent_id or interaction_id")
        convert.require_id(target, getattr(request, target))
        wait = _wait_seconds(context, request.wait)
        router = await self._router(context)
        if target == "agent_id":
            rec = await pull.assign_agent(router, request.agent_id, wait)
            if rec is None:
                return pb.AssignResponse(matched=False, agent_id=request.agent_id)
            return pb.AssignResponse(
                matched=True, agent_id=request.agent_id, interaction=convert.interaction_out(rec)
            )
        agent_id, rec = await pull.assign_interaction(router, request.interaction_id, wait)
        return pb.AssignResponse(
            matched=bool(agent_id), agent_id=agent_id, interaction=convert.interaction_out(rec)
        )

    async def WatchAssignments(
        self, request: pb.WatchAssignmentsRequest, context: Context
    ) -> AsyncIterator[pb.AssignmentEvent]:
        try:
            watched = convert.watched_agents_in(request.agent_ids)
            router = await self._router(context)
        except (ServiceError, ValidationError) as exc:
            err = refusal(exc)
            await context.abort(err.code, err.message)
        watcher = router.hub.subscribe(watched)
        try:
            while (notice := await watcher.next()) is not None:
                yield convert.notice_out(notice)
        finally:
            router.hub.unsubscribe(watcher)

    @rpc
    async def Accept(self, request: pb.AcceptRequest, context: Context) -> pb.Interaction:
        convert.require_id("interaction_id", request.interaction_id)
        convert.require_id("agent_id", request.agent_id)
        router = await self._router(context)
        return convert.interaction_out(
            await router.accept(request.interaction_id, request.agent_id)
        )

    @rpc
    async def Reject(self, request: pb.RejectRequest, context: Context) -> pb.Interaction:
        convert.require_id("interaction_id", request.interaction_id)
        convert.require_id("agent_id", request.agent_id)
        convert.reason_in(request.reason)
        router = await self._router(context)
        return convert.interaction_out(
            await router.reject(request.interaction_id, request.agent_id, request.reason)
        )

    @rpc
    async def Complete(self, request: pb.CompleteRequest, context: Context) -> pb.Interaction:
        convert.require_id("interaction_id", request.interaction_id)
        convert.optional_id("agent_id", request.agent_id)
        convert.text_in("disposition", request.disposition, MAX_DISPOSITION_LENGTH)
        convert.csat_in(request.csat)
        router = await self._router(context)
        rec = await router.complete(
            request.interaction_id, request.agent_id, request.disposition, request.csat
        )
        return convert.interaction_out(rec)

    @rpc
    async def Cancel(self, request: pb.CancelRequest, context: Context) -> pb.Interaction:
        convert.require_id("interaction_id", request.interaction_id)
        convert.reason_in(request.reason)
        router = await self._router(context)
        return convert.interaction_out(await router.cancel(request.interaction_id, request.reason))

    @rpc
    async def Transfer(self, request: pb.TransferRequest, context: Context) -> pb.Interaction:
        convert.require_id("interaction_id", request.interaction_id)
        mode = convert.transfer_mode_in(request.mode)
        target = request.WhichOneof("target")
        if target is None:
            raise InvalidArgument("target", "set agent_id, skills or queue")
        agent_id = convert.require_id("agent_id", request.agent_id) if target == "agent_id" else ""
        if request.ignore_skills and target != "agent_id":
            raise InvalidArgument("ignore_skills", "applies to a transfer to agent_id only")
        required = None
        if target == "skills":
            if not request.skills.required_skills:
                raise InvalidArgument("skills.required_skills", "must not be empty")
            required = convert.requirements_in(
                request.skills.required_skills, "skills.required_skills"
            )
        channel = convert.channel_in(request.channel, "channel", required=False)
        convert.reason_in(request.reason)
        router = await self._router(context)
        rec = await transfers.transfer(
            router, request.interaction_id, mode, agent_id, required, channel, request.reason
        )
        return convert.interaction_out(rec)

    @rpc
    async def Escalate(self, request: pb.EscalateRequest, context: Context) -> pb.Interaction:
        convert.require_id("interaction_id", request.interaction_id)
        convert.reason_in(request.reason)
        router = await self._router(context)
        return convert.interaction_out(
            await transfers.escalate(router, request.interaction_id, request.reason)
        )

    @rpc
    async def CancelTransfer(
        self, request: pb.CancelTransferRequest, context: Context
    ) -> pb.Interaction:
        convert.require_id("interaction_id", request.interaction_id)
        convert.optional_id("agent_id", request.agent_id)
        convert.reason_in(request.reason)
        router = await self._router(context)
        return convert.interaction_out(
            await transfers.cancel_transfer(
                router, request.interaction_id, request.agent_id, request.reason
            )
        )

    @rpc
    async def GetInteraction(
        self, request: pb.GetInteractionRequest, context: Context
    ) -> pb.Interaction:
        convert.require_id("interaction_id", request.interaction_id)
        router = await self._router(context)
        rec, history = await reports.get_interaction(router, request.interaction_id)
        return convert.interaction_out(rec, history)

    @rpc
    async def UpdateContext(
        self, request: pb.UpdateContextRequest, context: Context
    ) -> pb.Interaction:
        convert.require_id("interaction_id", request.interaction_id)
        updates = convert.struct_in(request.context)
        remove_keys = convert.remove_keys_in(request.remove_keys)
        router = await self._router(context)
        rec = await reports.update_context(router, request.interaction_id, updates, remove_keys)
        return convert.interaction_out(rec)

    # --- operations -----------------------------------------------------------------------

    @rpc
    async def Explain(self, request: pb.ExplainRequest, context: Context) -> pb.Explanation:
        convert.require_id("interaction_id", request.interaction_id)
        router = await self._router(context)
        explanation, live, chosen = await reports.explain(router, request.interaction_id)
        return convert.explanation_out(explanation, live, chosen)

    @rpc
    async def GetStats(self, request: pb.GetStatsRequest, context: Context) -> pb.Stats:
        router = await self._router(context)
        return convert.stats_out(await reports.stats(router))
