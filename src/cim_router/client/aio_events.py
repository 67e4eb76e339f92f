"""The async client's WatchEvents and GetCustomer (a mixin of AsyncRouterClient)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio

from cim_router._pb import router_pb2 as pb
from cim_router._pb import router_pb2_grpc
from cim_router.client import event_requests
from cim_router.client.connection import Metadata
from cim_router.client.errors import error_for
from cim_router.client.event_requests import EventTypeLike


class AsyncEventCalls:
    _stub: router_pb2_grpc.RouterAsyncStub
    _metadata: Metadata

    if TYPE_CHECKING:

        async def _call(self, rpc: Any, request: Any, timeout: float | None) -> Any: ...

    async def watch_events(
        self,
        types: Iterable[EventTypeLike] = (),
        *,
        after_id: str = "",
        from_start: bool = False,
        timeout: float | None = None,
    ) -> AsyncGenerator[pb.StreamEvent, None]:
        """The tenant's routing events as they are stored, each with its stream entry id
        (`.id`): of `types` (names such as "completed", or values; none: every type),
        after `after_id` (the last id received: resumes without gap or duplicate), from
        the oldest kept (`from_start`), or from now (neither). OutOfRange if `after_id`
        was trimmed away (the message names where the stream starts). Runs until the
        server ends it, or for `timeout` seconds if given; close it with
        `contextlib.aclosing`."""
        request = event_requests.watch_events(types, after_id, from_start)
        call = self._stub.WatchEvents(request, timeout=timeout, metadata=self._metadata)
        try:
            async for event in call:
                yield event
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.DEADLINE_EXCEEDED or timeout is None:
                raise error_for(exc.code(), exc.details()) from None
        finally:
            call.cancel()

    async def get_customer(
        self,
        customer_id: str,
        *,
        page_size: int = 0,
        page_token: str = "",
        timeout: float | None = None,
    ) -> pb.Customer:
        """One page of the customer's interactions, newest first, with their open ones,
        last agent and totals; pass `next_page_token` on. NotFound for one not known."""
        request = event_requests.get_customer(customer_id, page_size, page_token)
        customer: pb.Customer = await self._call(self._stub.GetCustomer, request, timeout)
        return customer
