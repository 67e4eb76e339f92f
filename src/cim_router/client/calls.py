"""The Router's calls, one table for both clients: which request each RPC takes, and
whether it writes (a call that writes carries a request id, the same on every retry)."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import Message

from cim_router._pb import router_pb2 as pb


@dataclass(frozen=True)
class Rpc:
    name: str  # as in the service
    method: str  # the clients' method for it
    request: type[Message]
    writes: bool  # carries a request id


RPCS: tuple[Rpc, ...] = (
    Rpc("UpsertAgent", "upsert_agent", pb.UpsertAgentRequest, writes=True),
    Rpc("SetAgentState", "set_agent_state", pb.SetAgentStateRequest, writes=True),
    Rpc("GetAgent", "get_agent", pb.GetAgentRequest, writes=False),
    Rpc("ListAgents", "list_agents", pb.ListAgentsRequest, writes=False),
    Rpc("RemoveAgent", "remove_agent", pb.RemoveAgentRequest, writes=True),
    Rpc("Enqueue", "enqueue", pb.EnqueueRequest, writes=True),
    Rpc("Assign", "assign", pb.AssignRequest, writes=True),
    Rpc("WatchAssignments", "watch", pb.WatchAssignmentsRequest, writes=False),
    Rpc("Accept", "accept", pb.AcceptRequest, writes=True),
    Rpc("Reject", "reject", pb.RejectRequest, writes=True),
    Rpc("Complete", "complete", pb.CompleteRequest, writes=True),
    Rpc("Cancel", "cancel", pb.CancelRequest, writes=True),
    Rpc("Transfer", "transfer", pb.TransferRequest, writes=True),
    Rpc("Escalate", "escalate", pb.EscalateRequest, writes=True),
    Rpc("CancelTransfer", "cancel_transfer", pb.CancelTransferRequest, writes=True),
    Rpc("GetInteraction", "get_interaction", pb.GetInteractionRequest, writes=False),
    Rpc("UpdateContext", "update_context", pb.UpdateContextRequest, writes=True),
    Rpc("Explain", "explain", pb.ExplainRequest, writes=False),
    Rpc("GetStats", "stats", pb.GetStatsRequest, writes=False),
    Rpc("ForgetCustomer", "forget_customer", pb.ForgetCustomerRequest, writes=True),
    # The tenant calls take no request id: a retry is ALREADY_EXISTS or NOT_FOUND.
    Rpc("CreateTenant", "create_tenant", pb.CreateTenantRequest, writes=False),
    Rpc("ListTenants", "list_tenants", pb.ListTenantsRequest, writes=False),
    Rpc("DeleteTenant", "delete_tenant", pb.DeleteTenantRequest, writes=False),
    Rpc("ListAudit", "list_audit", pb.ListAuditRequest, writes=False),
    Rpc("UpsertQueue", "upsert_queue", pb.UpsertQueueRequest, writes=True),
    Rpc("GetQueue", "get_queue", pb.GetQueueRequest, writes=False),
    Rpc("ListQueues", "list_queues", pb.ListQueuesRequest, writes=False),
    Rpc("RemoveQueue", "remove_queue", pb.RemoveQueueRequest, writes=True),
    Rpc("ListInteractions", "list_interactions", pb.ListInteractionsRequest, writes=False),
    Rpc("RequestCallback", "request_callback", pb.RequestCallbackRequest, writes=True),
    Rpc("WatchEvents", "watch_events", pb.WatchEventsRequest, writes=False),
    Rpc("GetCustomer", "get_customer", pb.GetCustomerRequest, writes=False),
    Rpc("Hold", "hold", pb.HoldRequest, writes=True),
    Rpc("Resume", "resume", pb.ResumeRequest, writes=True),
    Rpc("SubmitFeedback", "submit_feedback", pb.SubmitFeedbackRequest, writes=True),
    # Each call on a session carries its own request id, in its envelope.
    Rpc("Session", "session", pb.SessionRequest, writes=False),
)
BY_REQUEST: dict[type[Message], Rpc] = {rpc.request: rpc for rpc in RPCS}


def writes(request: Message) -> bool:
    """Whether the call taking `request` changes state."""
    return BY_REQUEST[type(request)].writes
