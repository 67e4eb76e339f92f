"""Requests of WatchEvents and GetCustomer, shared by both clients."""

from __future__ import annotations

from collections.abc import Iterable

from cim_router._pb import router_pb2 as pb
from cim_router.client.names import EVENTS

EventTypeLike = str | int  # "completed" or pb.EVENT_TYPE_COMPLETED


def watch_events(
    types: Iterable[EventTypeLike], after_id: str, from_start: bool
) -> pb.WatchEventsRequest:
    wanted = [pb.EventType.ValueType(EVENTS.value(t)) for t in types]
    return pb.WatchEventsRequest(types=wanted, after_id=after_id, from_start=from_start)


def get_customer(customer_id: str, page_size: int, page_token: str) -> pb.GetCustomerRequest:
    return pb.GetCustomerRequest(
        customer_id=customer_id, page_size=page_size, page_token=page_token
    )
