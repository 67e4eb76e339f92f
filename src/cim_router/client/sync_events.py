"""The blocking client's WatchEvents and GetCustomer (a mixin of RouterClient)."""

from __future__ import annotations

from collections.abc import Generator, Iterable
from typing import TYPE_CHECKING, Any

import grpc

from cim_router._pb import router_pb2 as pb
from cim_router._pb import router_pb2_grpc
from cim_router.client import event_requests
from cim_router.client.connection import Metadata
from cim_router.client.errors import error_for
from cim_router.client.event_requests import EventTypeLike


class EventCalls:
    _stub: router_pb2_grpc.RouterStub
    _metadata: Metadata

    if TYPE_CHECKING:

        def _call(self, rpc: Any, request: Any, timeout: float | None) -> Any: ...

    def watch_events(
        self,
        types: Iterable[EventTypeLike] = (),
        *,
        after_id: str = "",
        from_start: bool = False,
        timeout: float | None = None,
    ) -> Generator[pb.StreamEvent, None, None]:
        """As AsyncRouterClient.watch_events; close it early with `contextlib.closing`."""
        request = event_requests.watch_events(types, after_id, from_start)
        call = self._stub.WatchEvents(request, timeout=timeout, metadata=self._metadata)
        try:
            yield from call
        except grpc.RpcError as exc:
            code, details = (
                (exc.code(), exc.details() or "")
                if isinstance(exc, grpc.Call)
                else (grpc.StatusCode.UNKNOWN, str(exc))
            )
            if code != grpc.StatusCode.DEADLINE_EXCEEDED or timeout is None:
                raise error_for(code, details) from None
        finally:
            call.cancel()  # type: ignore[no-untyped-call]  # the stubs leave it untyped

    def get_customer(
        self,
        customer_id: str,
        *,
        page_size: int = 0,
        page_token: str = "",
        timeout: float | None = None,
    ) -> pb.Customer:
        """As AsyncRouterClient.get_customer."""
        request = event_requests.get_customer(customer_id, page_size, page_token)
        customer: pb.Customer = self._call(self._stub.GetCustomer, request, timeout)
        return customer
