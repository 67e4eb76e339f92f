"""The `cim_router.v1.Router` gRPC service: wire in, tenant operation, wire out.

Reads go to an existing tenant and create nothing; calls that may write use (and, for a
new tenant, create) the tenant's router. A mutating call may carry `x-cim-request-id`: a
retry with the same id answers with the first call's outcome instead of applying twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from cim_router._pb import router_pb2 as pb
from cim_router._pb import router_pb2_grpc
from cim_router.domain.errors import ValidationError
from cim_router.domain.limits import MAX_DISPOSITION_LENGTH
from cim_router.service import convert, responses
from cim_router.service.admin import Admin
from cim_router.service.audit_trail import audit_page_out, tenant_out
from cim_router.service.auth import Access, OpenAccess, current_principal
from cim_router.service.auth.principal import ALL_TENANTS
from cim_router.service.auth.quotas import no_quota
from cim_router.service.callback_rpcs import CallbackRpcs
from cim_router.service.event_customer_rpcs import EventCustomerRpcs
from cim_router.service.hold_rpcs import HoldRpcs
from cim_router.service.queue_rpcs import QueueRpcs
from cim_router.service.rpc import STATUS, Context, refusal, request_key, rpc, tenant_of
from cim_router.service.session import SessionRpc
from cim_router.service.watching import watching
from cim_router.store.redis_store import RedisStore
from cim_router.tenant import agents, forget, interactions, pull, queues, reports, transfers
from cim_router.tenant.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ServiceError,
)
from cim_router.tenant.records import Event, InteractionRecord
from cim_router.tenant.registry import Tenants
from cim_router.tenant.router import TenantRouter

# Leave this much of a waiting Assign's deadline to deliver the answer: a fixed part, and
# a share, as the deadline the server sees runs up to ~1% past the client's (grpc rounds
# the timeout it sends up).
DEADLINE_MARGIN = 0.05  # at most; a tenth of a short deadline
DEADLINE_SHARE = 0.05


def _out(
    router: TenantRouter, rec: InteractionRecord, history: Sequence[Event] = ()
) -> pb.Interaction:
    """The interaction as the call's principal may read it."""
    sensitive = router.policy.sensitive_context_keys
    return responses.interaction_out(rec, history, sensitive, now=router.clock())


def _wait_seconds(context: Context, wait: bool) -> float:
    if not wait:
        return 0.0
    remaining = context.time_remaining()
    if remaining is None:
        raise InvalidArgument("wait", "needs a call deadline")
    margin = min(DEADLINE_MARGIN, remaining * 0.1)
    return max(0.0, remaining * (1.0 - DEADLINE_SHARE) - margin)


class RouterServicer(
    QueueRpcs,
    CallbackRpcs,
    EventCustomerRpcs,
    HoldRpcs,
    SessionRpc,
    router_pb2_grpc.RouterServicer,
):
    """Each RPC checks every field of its request before it touches a tenant, so that a
    refused request changes nothing."""

    def __init__(
        self, tenants: Tenants, access: Access | None = None, admin: Admin | None = None
    ) -> None:
        self.tenants = tenants
        self.access: Access = access or OpenAccess()
        store = tenants.store
        if admin is None and isinstance(store, RedisStore):
            admin = Admin(tenants, store.redis, store.keys, self.access)
        self.admin = admin  # None without Redis (the tenant and audit RPCs then refuse)
        self.sessions = set()

    def _admin(self) -> Admin:
        if self.admin is None:
            raise FailedPrecondition("this server keeps no tenants or audit trail")
        return self.admin

    # --- agents ---------------------------------------------------------------------------

    @rpc
    async def UpsertAgent(self, request: pb.UpsertAgentRequest, context: Context) -> pb.Agent:
        agent, state = convert.agent_in(request)
        key = request_key(context, "UpsertAgent", request)
        async with self.tenants.use(tenant_of(context)) as router:
            return responses.agent_out(await agents.upsert_agent(router, agent, state, key))

    @rpc
    async def SetAgentState(self, request: pb.SetAgentStateRequest, context: Context) -> pb.Agent:
        convert.require_id("agent_id", request.agent_id)
        state = convert.settable_state_in(request.state, "state")
        if state is None:
            raise InvalidArgument("state", "is required")
        convert.reason_in(request.reason)
        key = request_key(context, "SetAgentState", request)
        router = self._found(context, f"agent {request.agent_id!r}")
        return responses.agent_out(
            await agents.set_agent_state(router, request.agent_id, state, request.reason, key)
        )

    @rpc
    async def GetAgent(self, request: pb.GetAgentRequest, context: Context) -> pb.Agent:
        convert.require_id("agent_id", request.agent_id)
        router = self._found(context, f"agent {request.agent_id!r}")
        return responses.agent_out(await agents.get_agent(router, request.agent_id))

    @rpc
    async def ListAgents(
        self, request: pb.ListAgentsRequest, context: Context
    ) -> pb.ListAgentsResponse:
        state = convert.agent_state_in(request.state, "state")
        size = convert.page_size_in(request.page_size)
        after = convert.page_token_in(request.page_token)
        router = self._reader(context)
        if router is None:
            return pb.ListAgentsResponse()
        found, more = await agents.list_agents(router, state, after, size)
        return responses.agents_page_out(found, more)

    @rpc
    async def RemoveAgent(
        self, request: pb.RemoveAgentRequest, context: Context
    ) -> pb.RemoveAgentResponse:
        convert.require_id("agent_id", request.agent_id)
        key = request_key(context, "RemoveAgent", request)
        router = self._found(context, f"agent {request.agent_id!r}")
        await agents.remove_agent(router, request.agent_id, key)
        return pb.RemoveAgentResponse()

    # --- interactions ---------------------------------------------------------------------

    @rpc
    async def Enqueue(self, request: pb.EnqueueRequest, context: Context) -> pb.EnqueueResponse:
        interaction = convert.interaction_in(request)
        terms = convert.terms_in(request, self.tenants.clock())
        key = request_key(context, "Enqueue", request)
        async with self.tenants.use(tenant_of(context)) as router:
            rec, created, position, wait = await interactions.enqueue(
                router, interaction, convert.digest(request), key, terms
            )
        return pb.EnqueueResponse(
            interaction=_out(router, rec),
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
        quota = current_principal.get().quota
        with quota.waiting() if quota is not None and wait > 0 else no_quota():
            return await self._assign(request, context, wait)

    async def _assign(
        self, request: pb.AssignRequest, context: Context, wait: float
    ) -> pb.AssignResponse:
        target = request.WhichOneof("target")
        parked = self.tenants.limits.max_parked_assigns
        if target == "agent_id":
            key = request_key(context, "Assign", request)
            router = self._found(context, f"agent {request.agent_id!r}")
            rec = await pull.assign_agent(router, request.agent_id, wait, key, parked)
            if rec is None:
                return pb.AssignResponse(matched=False, agent_id=request.agent_id)
            return pb.AssignResponse(
                matched=True, agent_id=request.agent_id, interaction=_out(router, rec)
            )
        router = self._found(context, f"interaction {request.interaction_id!r}")
        agent_id, rec = await pull.assign_interaction(router, request.interaction_id, wait, parked)
        return pb.AssignResponse(
            matched=bool(agent_id), agent_id=agent_id, interaction=_out(router, rec)
        )

    async def WatchAssignments(
        self, request: pb.WatchAssignmentsRequest, context: Context
    ) -> AsyncIterator[pb.AssignmentEvent]:
        try:
            async with watching(self, request, context) as watch:
                while (event := await watch.next()) is not None:
                    yield event
        except (ServiceError, ValidationError) as exc:
            err = refusal(exc)
            await context.abort(STATUS[err.code], err.message)

    @rpc
    async def Accept(self, request: pb.AcceptRequest, context: Context) -> pb.Interaction:
        convert.require_id("interaction_id", request.interaction_id)
        convert.require_id("agent_id", request.agent_id)
        key = request_key(context, "Accept", request)
        router = self._found(context, f"interaction {request.interaction_id!r}")
        return _out(
            router, await interactions.accept(router, request.interaction_id, request.agent_id, key)
        )

    @rpc
    async def Reject(self, request: pb.RejectRequest, context: Context) -> pb.Interaction:
        convert.require_id("interaction_id", request.interaction_id)
        convert.require_id("agent_id", request.agent_id)
        convert.reason_in(request.reason)
        key = request_key(context, "Reject", request)
        router = self._found(context, f"interaction {request.interaction_id!r}")
        return _out(
            router,
            await interactions.reject(
                router, request.interaction_id, request.agent_id, request.reason, key
            ),
        )

    @rpc
    async def Complete(self, request: pb.CompleteRequest, context: Context) -> pb.Interaction:
        convert.require_id("interaction_id", request.interaction_id)
        convert.optional_id("agent_id", request.agent_id)
        convert.text_in("disposition", request.disposition, MAX_DISPOSITION_LENGTH)
        convert.csat_in(request.csat)
        key = request_key(context, "Complete", request)
        router = self._found(context, f"interaction {request.interaction_id!r}")
        rec = await interactions.complete(
            router, request.interaction_id, request.agent_id, request.disposition, request.csat, key
        )
        return _out(router, rec)

    @rpc
    async def Cancel(self, request: pb.CancelRequest, context: Context) -> pb.Interaction:
        convert.require_id("interaction_id", request.interaction_id)
        convert.reason_in(request.reason)
        key = request_key(context, "Cancel", request)
        router = self._found(context, f"interaction {request.interaction_id!r}")
        return _out(
            router, await interactions.cancel(router, request.interaction_id, request.reason, key)
        )

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
        move = None
        if target == "queue":
            convert.optional_id("queue.queue_id", request.queue.queue_id)
            move = queues.Move(request.queue.queue_id, request.queue.to_back)
        channel = convert.channel_in(request.channel, "channel", required=False)
        convert.reason_in(request.reason)
        key = request_key(context, "Transfer", request)
        router = self._found(context, f"interaction {request.interaction_id!r}")
        rec = await transfers.transfer(
            router,
            request.interaction_id,
            mode,
            agent_id,
            required,
            channel,
            request.reason,
            request.ignore_skills,
            key,
            move,
        )
        return _out(router, rec)

    @rpc
    async def Escalate(self, request: pb.EscalateRequest, context: Context) -> pb.Interaction:
        convert.require_id("interaction_id", request.interaction_id)
        convert.reason_in(request.reason)
        key = request_key(context, "Escalate", request)
        router = self._found(context, f"interaction {request.interaction_id!r}")
        return _out(
            router, await transfers.escalate(router, request.interaction_id, request.reason, key)
        )

    @rpc
    async def CancelTransfer(
        self, request: pb.CancelTransferRequest, context: Context
    ) -> pb.Interaction:
        convert.require_id("interaction_id", request.interaction_id)
        convert.optional_id("agent_id", request.agent_id)
        convert.reason_in(request.reason)
        key = request_key(context, "CancelTransfer", request)
        router = self._found(context, f"interaction {request.interaction_id!r}")
        return _out(
            router,
            await transfers.cancel_transfer(
                router, request.interaction_id, request.agent_id, request.reason, key
            ),
        )

    @rpc
    async def GetInteraction(
        self, request: pb.GetInteractionRequest, context: Context
    ) -> pb.Interaction:
        convert.require_id("interaction_id", request.interaction_id)
        router = self._found(context, f"interaction {request.interaction_id!r}")
        rec, history = await reports.get_interaction(router, request.interaction_id)
        return _out(router, rec, history)

    @rpc
    async def UpdateContext(
        self, request: pb.UpdateContextRequest, context: Context
    ) -> pb.Interaction:
        convert.require_id("interaction_id", request.interaction_id)
        updates = convert.struct_in(request.context)
        remove_keys = convert.remove_keys_in(request.remove_keys)
        key = request_key(context, "UpdateContext", request)
        router = self._found(context, f"interaction {request.interaction_id!r}")
        rec = await reports.update_context(
            router, request.interaction_id, updates, remove_keys, key
        )
        return _out(router, rec)

    # --- operations -----------------------------------------------------------------------

    @rpc
    async def Explain(self, request: pb.ExplainRequest, context: Context) -> pb.Explanation:
        convert.require_id("interaction_id", request.interaction_id)
        router = self._found(context, f"interaction {request.interaction_id!r}")
        explanation, live, chosen = await reports.explain(router, request.interaction_id)
        rec = await router.interaction(request.interaction_id)
        return responses.explanation_out(
            explanation,
            live,
            chosen,
            rec.interaction.queue_id,
            reports.queue_open(router, rec),
            rec.rules_fired,
        )

    @rpc
    async def GetStats(self, request: pb.GetStatsRequest, context: Context) -> pb.Stats:
        queue_id = convert.optional_id("queue_id", request.queue_id)
        router = self._reader(context)
        if router is None:
            if queue_id and queue_id not in self._unstarted():
                raise NotFound(f"queue {queue_id!r} not found")
            return responses.stats_out(reports.empty_stats(self.tenants.clock()))
        return responses.stats_out(await reports.stats(router, queue_id))

    # --- customer data --------------------------------------------------------------------

    @rpc
    async def ForgetCustomer(
        self, request: pb.ForgetCustomerRequest, context: Context
    ) -> pb.ForgetCustomerResponse:
        """Idempotent, so without a request id: a retry erases nothing more, and says so."""
        convert.require_id("customer_id", request.customer_id)
        router = self._reader(context)
        if router is None:  # a tenant that does not exist holds no one
            return pb.ForgetCustomerResponse(customer_id=request.customer_id)
        return responses.forgotten_out(await forget.forget_customer(router, request.customer_id))

    # --- administration -------------------------------------------------------------------
    # No request ids here: a retried CreateTenant answers ALREADY_EXISTS, DeleteTenant
    # NOT_FOUND, and either way the tenant is as asked.

    @rpc
    async def CreateTenant(self, request: pb.CreateTenantRequest, context: Context) -> pb.Tenant:
        return tenant_out(await self._admin().create_tenant(request.tenant_id))

    @rpc
    async def ListTenants(
        self, request: pb.ListTenantsRequest, context: Context
    ) -> pb.ListTenantsResponse:
        found = await self._admin().list_tenants(current_principal.get())
        return pb.ListTenantsResponse(tenants=[tenant_out(t) for t in found])

    @rpc
    async def DeleteTenant(
        self, request: pb.DeleteTenantRequest, context: Context
    ) -> pb.DeleteTenantResponse:
        await self._admin().delete_tenant(request.tenant_id)
        return pb.DeleteTenantResponse(tenant_id=request.tenant_id)

    @rpc
    async def ListAudit(
        self, request: pb.ListAuditRequest, context: Context
    ) -> pb.ListAuditResponse:
        tenant = tenant_of(context)
        trail = None if tenant == ALL_TENANTS else tenant  # "*": the operators' own trail
        entries, token = await self._admin().list_audit(
            trail, request.page_size, request.page_token
        )
        return audit_page_out(entries, token)
