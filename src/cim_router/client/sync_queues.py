"""The queue calls of `RouterClient` (queues, ListInteractions, callbacks), kept apart so
that each client module stays small; mixed into the client, whose `_call` they use."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from cim_router._pb import router_pb2 as pb
from cim_router._pb import router_pb2_grpc
from cim_router.client import queue_requests
from cim_router.client.names import ChannelLike
from cim_router.client.requests import Skills

Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp")


class QueueCalls:
    _stub: router_pb2_grpc.RouterStub

    def _call(
        self, rpc: grpc.UnaryUnaryMultiCallable[Req, Resp], request: Req, timeout: float | None
    ) -> Resp:
        raise NotImplementedError  # the client's

    def upsert_queue(
        self,
        queue_id: str,
        *,
        display_name: str = "",
        channels: Sequence[ChannelLike] = (),
        required: Skills | None = None,
        preferred: Skills | None = None,
        priority: int = 0,
        sla_seconds: float = 0.0,
        sla_share: float = 0.0,
        max_size: int = 0,
        max_wait_seconds: float = 0.0,
        hours: Mapping[str, Any] | None = None,
        overflow: Sequence[queue_requests.Rule] = (),
        timeout: float | None = None,
    ) -> pb.QueueStatus:
        """Create or replace a queue (role admin); `hours` in the policy file's shape:
        {"time_zone": ..., "mon": ["09:00-17:00"], "exceptions": {"2026-12-25": []}}; `overflow`
        rules as messages or in the policy file's shape ({"name": ..., "when": "waited",
        "threshold": 60, "then": "move", "queue": ...})."""
        request = queue_requests.queue(
            queue_id,
            display_name=display_name,
            channels=channels,
            required=required,
            preferred=preferred,
            priority=priority,
            sla_seconds=sla_seconds,
            sla_share=sla_share,
            max_size=max_size,
            max_wait_seconds=max_wait_seconds,
            hours_=hours,
            overflow=overflow,
        )
        return self._call(self._stub.UpsertQueue, request, timeout)

    def get_queue(self, queue_id: str, *, timeout: float | None = None) -> pb.QueueStatus:
        """A queue and how it stands now: open, waiting, agents, estimated wait."""
        request = pb.GetQueueRequest(queue_id=queue_id)
        return self._call(self._stub.GetQueue, request, timeout)

    def list_queues(self, *, timeout: float | None = None) -> list[pb.QueueStatus]:
        response = self._call(self._stub.ListQueues, pb.ListQueuesRequest(), timeout)
        return list(response.queues)

    def remove_queue(self, queue_id: str, *, timeout: float | None = None) -> None:
        """Refused while work is in it or a rule of another queue moves work to it."""
        request = pb.RemoveQueueRequest(queue_id=queue_id)
        self._call(self._stub.RemoveQueue, request, timeout)

    def request_callback(
        self,
        interaction_id: str,
        address: str,
        *,
        max_attempts: int = 0,
        retry_seconds: float = 0.0,
        timeout: float | None = None,
    ) -> pb.Interaction:
        """Make waiting voice or video work a callback to `address`, keeping its place."""
        request = pb.RequestCallbackRequest(
            interaction_id=interaction_id,
            address=address,
            max_attempts=max_attempts,
            retry_seconds=retry_seconds,
        )
        return self._call(self._stub.RequestCallback, request, timeout)

    def list_interactions(
        self,
        *,
        queue_id: str = "",
        state: str | int | None = None,
        channel: ChannelLike | None = None,
        customer_id: str = "",
        page_size: int = 0,
        page_token: str = "",
        timeout: float | None = None,
    ) -> pb.ListInteractionsResponse:
        """One page of the open interactions, in service order; pass `next_page_token` on."""
        request = queue_requests.list_interactions(
            queue_id=queue_id,
            state=state,
            channel_=channel,
            customer_id=customer_id,
            page_size=page_size,
            page_token=page_token,
        )
        return self._call(self._stub.ListInteractions, request, timeout)
