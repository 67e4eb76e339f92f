"""A Python client of the cim-router gRPC service: async and blocking, with deadlines,
retries of safe calls on UNAVAILABLE, the tenant header, TLS, and RouterError exceptions.

    async with AsyncRouterClient("localhost:50051", tenant="acme") as router:
        await router.upsert_agent("ann", skills={"billing": 8}, state="available")
        r = await router.enqueue("chat-1", channel="chat", required={"billing": 5})
"""

from cim_router.client.aio import AsyncRouterClient
from cim_router.client.connection import Tls
from cim_router.client.errors import (
    AlreadyExists,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    OutOfRange,
    RouterError,
    Unavailable,
)
from cim_router.client.names import (
    agent_state,
    agent_state_name,
    assignment_event_name,
    channel,
    channel_name,
    event_name,
    interaction_state_name,
    transfer_mode,
)
from cim_router.client.retry import Retry
from cim_router.client.sync import RouterClient

__all__ = [
    "AlreadyExists",
    "AsyncRouterClient",
    "DeadlineExceeded",
    "FailedPrecondition",
    "InvalidArgument",
    "NotFound",
    "OutOfRange",
    "Retry",
    "RouterClient",
    "RouterError",
    "Tls",
    "Unavailable",
    "agent_state",
    "agent_state_name",
    "assignment_event_name",
    "channel",
    "channel_name",
    "event_name",
    "interaction_state_name",
    "transfer_mode",
]
