"""RequestCallback: wire in, tenant operation, wire out (callbacks are tenant/callbacks.py)."""

from __future__ import annotations

from cim_router._pb import router_pb2 as pb
from cim_router.service import convert, responses
from cim_router.service.rpc import Context, TenantLookups, request_key, rpc
from cim_router.tenant import callbacks


class CallbackRpcs(TenantLookups):
    @rpc
    async def RequestCallback(
        self, request: pb.RequestCallbackRequest, context: Context
    ) -> pb.Interaction:
        address, attempts, retry = convert.callback_in(request)
        key = request_key(context, "RequestCallback", request)
        router = self._found(context, f"interaction {request.interaction_id!r}")
        rec = await callbacks.request_callback(
            router, request.interaction_id, address, attempts, retry, key
        )
        return responses.interaction_out(rec, (), router.policy.sensitive_context_keys)
