"""The queue RPCs (UpsertQueue, GetQueue, ListQueues, RemoveQueue) and ListInteractions:
wire in, tenant operation, wire out."""

from __future__ import annotations

from cim_router._pb import router_pb2 as pb
from cim_router.domain.errors import ValidationError
from cim_router.domain.interaction import InteractionState
from cim_router.domain.limits import DEFAULT_INTERACTIONS_PAGE_SIZE
from cim_router.domain.queues import DEFAULT_QUEUE, Queue
from cim_router.service import convert, responses
from cim_router.service.queue_wire import as_invalid, queue_in, status_out
from cim_router.service.rpc import Context, TenantLookups, request_key, rpc, tenant_of
from cim_router.tenant import listing, queue_admin, queues
from cim_router.tenant.errors import InvalidArgument, NotFound

LIVE_STATES = (
    InteractionState.QUEUED,
    InteractionState.OFFERED,
    InteractionState.ASSIGNED,
    InteractionState.WRAP_UP,
)


class QueueRpcs(TenantLookups):
    def _unstarted(self) -> dict[str, Queue]:
        """The queues of a tenant that has not written anything yet."""
        return {DEFAULT_QUEUE: Queue(DEFAULT_QUEUE), **self.tenants.policy.queues}

    def _idle(self, queue: Queue) -> queues.QueueStatus:
        now = self.tenants.clock()
        hours = queue.hours
        return queues.QueueStatus(
            queue, hours.is_open(now), hours.next_change(now), 0, 0.0, 0, 0, 0.0
        )

    @rpc
    async def UpsertQueue(self, request: pb.UpsertQueueRequest, context: Context) -> pb.QueueStatus:
        if not request.HasField("queue"):
            raise InvalidArgument("queue", "is required")
        queue = queue_in(request.queue)
        key = request_key(context, "UpsertQueue", request)
        async with self.tenants.use(tenant_of(context)) as router:
            try:
                return status_out(await queue_admin.upsert_queue(router, queue, key))
            except ValidationError as exc:
                raise as_invalid(exc) from None

    @rpc
    async def GetQueue(self, request: pb.GetQueueRequest, context: Context) -> pb.QueueStatus:
        convert.require_id("queue_id", request.queue_id)
        router = self._reader(context)
        if router is None:
            found = self._unstarted().get(request.queue_id)
            if found is None:
                raise NotFound(f"queue {request.queue_id!r} not found")
            return status_out(self._idle(found))
        return status_out(await queues.get_queue(router, request.queue_id))

    @rpc
    async def ListQueues(
        self, request: pb.ListQueuesRequest, context: Context
    ) -> pb.ListQueuesResponse:
        router = self._reader(context)
        if router is None:
            found = [self._idle(q) for _, q in sorted(self._unstarted().items())]
        else:
            found = await queues.list_queues(router)
        return pb.ListQueuesResponse(queues=[status_out(s) for s in found])

    @rpc
    async def RemoveQueue(
        self, request: pb.RemoveQueueRequest, context: Context
    ) -> pb.RemoveQueueResponse:
        convert.require_id("queue_id", request.queue_id)
        key = request_key(context, "RemoveQueue", request)
        router = self._found(context, f"queue {request.queue_id!r}")
        await queue_admin.remove_queue(router, request.queue_id, key)
        return pb.RemoveQueueResponse(queue_id=request.queue_id)

    @rpc
    async def ListInteractions(
        self, request: pb.ListInteractionsRequest, context: Context
    ) -> pb.ListInteractionsResponse:
        convert.optional_id("queue_id", request.queue_id)
        convert.optional_id("customer_id", request.customer_id)
        state = convert.interaction_state_in(request.state, "state")
        if state is not None and state not in LIVE_STATES:
            raise InvalidArgument("state", "only open interactions are listed")
        channel = convert.channel_in(request.channel, "channel", required=False)
        size = convert.page_size_in(request.page_size, DEFAULT_INTERACTIONS_PAGE_SIZE)
        offset = convert.offset_token_in(request.page_token)
        router = self._reader(context)
        if router is None:
            return pb.ListInteractionsResponse()
        where = listing.Filter(request.queue_id, state, channel, request.customer_id)
        found, more = await listing.list_interactions(router, where, offset, size)
        sensitive = router.policy.sensitive_context_keys
        return responses.interactions_page_out(found, more, offset, sensitive, router.clock())
