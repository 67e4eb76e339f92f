"""`RouterClient`: the blocking twin of AsyncRouterClient, over grpc's sync stubs.

Its channel is thread-safe, so one client can serve several threads of a script.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable, Mapping
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from cim_router._pb import router_pb2 as pb
from cim_router._pb import router_pb2_grpc
from cim_router.client import queue_requests, requests
from cim_router.client.calls import writes
from cim_router.client.connection import (
    DEFAULT_TARGET,
    DEFAULT_TIMEOUT,
    ChannelOption,
    Tls,
    channel_options,
    request_metadata,
    resolve_target,
    tenant_metadata,
    token_metadata,
)
from cim_router.client.errors import error_for
from cim_router.client.names import AgentStateLike, ChannelLike, TransferModeLike, agent_state
from cim_router.client.queue_requests import Profile
from cim_router.client.requests import Skills
from cim_router.client.retry import Attempts, Retry
from cim_router.client.sync_events import EventCalls
from cim_router.client.sync_holds import HoldCalls
from cim_router.client.sync_queues import QueueCalls
from cim_router.client.sync_session import Session

Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp")


class RouterClient(QueueCalls, EventCalls, HoldCalls):
    """A client of one router (and one tenant); use `with` or call `close()`.

    Every call has a deadline: `timeout` seconds, per client or per call. Calls that are
    safe to repeat are retried on UNAVAILABLE within that deadline. Failures raise
    `RouterError` subclasses (NotFound, InvalidArgument, ...), never raw grpc errors.
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        tenant: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: Retry | None = None,
        tls: Tls | None = None,
        token: str | None = None,
        options: Iterable[ChannelOption] = (),
    ) -> None:
        """`token`: the API key, sent as `authorization: Bearer <key>` on every call. `tls`:
        TLS settings (`Tls.from_files(ca=..., cert=..., key=...)`); a target starting with
        `https://` or `grpcs://` is reached over TLS too, with the system's roots by default."""
        self.target = target
        address, tls = resolve_target(target, tls)
        self.tenant = tenant
        self.timeout = timeout
        self.retry = retry or Retry()
        opts = channel_options(tls, options)
        if tls is None:
            self._channel = grpc.insecure_channel(address, options=opts)
        else:
            self._channel = grpc.secure_channel(address, tls.credentials(), options=opts)
        self._stub = router_pb2_grpc.RouterStub(self._channel)
        self._metadata = tenant_metadata(tenant) + token_metadata(token)

    def close(self) -> None:
        self._channel.close()

    def session(self, *, timeout: float | None = None) -> Session:
        """A Session stream (client/sync_session.py): many calls over one stream, each
        answered by its correlation id, and the subscribed agents' events. No deadline
        unless `timeout`."""
        return Session(self._stub, self._metadata, timeout)

    def __enter__(self) -> RouterClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(
        self,
        rpc: grpc.UnaryUnaryMultiCallable[Req, Resp],
        request: Req,
        timeout: float | None,
    ) -> Resp:
        # A call that writes carries a request id, the same on every attempt: the router
        # applies it at most once, so it too may be retried when the outcome is unknown.
        metadata = request_metadata(self._metadata) if writes(request) else self._metadata
        retry = self.retry
        deadline = self.timeout if timeout is None else timeout
        attempts = Attempts(retry, deadline, type(request).__name__)
        while True:
            try:
                return rpc(request, timeout=attempts.timeout(), metadata=metadata)
            except grpc.RpcError as exc:
                code, details = _status(exc)
                delay = attempts.retry_after(code)
                if delay is None:
                    raise error_for(code, details, attempts.count) from None
            time.sleep(delay)

    # --- agents ---------------------------------------------------------------------------

    def upsert_agent(
        self,
        agent_id: str,
        *,
        skills: Mapping[str, int] | None = None,
        tier: int = 0,
        state: AgentStateLike | None = None,
        display_name: str = "",
        capacity: Mapping[ChannelLike, int] | None = None,
        routing_profile: Profile | None = None,
        timeout: float | None = None,
    ) -> pb.Agent:
        """Create or replace an agent; `state=None` keeps an existing agent's state. The
        routing profile: queue ids, or id -> priority, or id -> (priority, delay seconds);
        none means every queue."""
        request = requests.upsert_agent(
            agent_id,
            skills,
            tier,
            state,
            display_name,
            capacity,
            queue_requests.profile(routing_profile),
        )
        return self._call(self._stub.UpsertAgent, request, timeout)

    def set_agent_state(
        self,
        agent_id: str,
        state: AgentStateLike,
        *,
        reason: str = "",
        timeout: float | None = None,
    ) -> pb.Agent:
        """Set an agent OFFLINE, AVAILABLE or NOT_READY (with a reason)."""
        request = pb.SetAgentStateRequest(
            agent_id=agent_id, state=agent_state(state), reason=reason
        )
        return self._call(self._stub.SetAgentState, request, timeout)

    def get_agent(self, agent_id: str, *, timeout: float | None = None) -> pb.Agent:
        request = pb.GetAgentRequest(agent_id=agent_id)
        return self._call(self._stub.GetAgent, request, timeout)

    def list_agents(
        self, *, state: AgentStateLike | None = None, timeout: float | None = None
    ) -> list[pb.Agent]:
        """Every agent of the tenant, or those in `state`, in id order: page after page,
        `timeout` for each."""
        found: list[pb.Agent] = []
        token = ""
        while True:
            request = requests.list_agents(state, token)
            response = self._call(self._stub.ListAgents, request, timeout)
            found.extend(response.agents)
            token = response.next_page_token
            if not token:
                return found

    def remove_agent(self, agent_id: str, *, timeout: float | None = None) -> None:
        request = pb.RemoveAgentRequest(agent_id=agent_id)
        self._call(self._stub.RemoveAgent, request, timeout)

    # --- interactions ---------------------------------------------------------------------

    def enqueue(
        self,
        interaction_id: str,
        *,
        channel: ChannelLike,
        required: Skills | None = None,
        preferred: Skills | None = None,
        priority: int = 0,
        customer_id: str = "",
        customer_tier: str = "",
        sla_seconds: float = 0.0,
        preferred_agent_id: str = "",
        context: Mapping[str, Any] | None = None,
        queue_id: str = "",
        outbound: bool = False,
        not_before: float | None = None,
        timeout: float | None = None,
    ) -> pb.EnqueueResponse:
        """Queue an interaction (or find the one queued with this id before).

        `required` maps skill names to minimum levels; `preferred` is a mapping or names;
        `queue_id` names the queue (empty: the tenant's queue "default"); `outbound` for
        proactive work; `not_before` (epoch seconds) holds it until then.
        """
        request = requests.enqueue(
            interaction_id,
            channel_=channel,
            required=required,
            preferred=preferred,
            priority=priority,
            customer_id=customer_id,
            customer_tier=customer_tier,
            sla_seconds=sla_seconds,
            preferred_agent_id=preferred_agent_id,
            context=context,
            queue_id=queue_id,
            outbound=outbound,
            not_before=not_before,
        )
        return self._call(self._stub.Enqueue, request, timeout)

    def assign(
        self,
        *,
        agent_id: str | None = None,
        interaction_id: str | None = None,
        wait: float = 0.0,
        timeout: float | None = None,
    ) -> pb.AssignResponse:
        """An agent's next interaction (accepted for it), or the agent for an interaction.

        `wait` > 0 waits up to that many seconds for a match (it is the call's deadline);
        `matched` is False in the response when nothing matched.
        """
        request = requests.assign(agent_id, interaction_id, wait)
        deadline = wait if wait > 0 else timeout
        return self._call(self._stub.Assign, request, deadline)

    def watch(
        self, agent_ids: Iterable[str] = (), *, timeout: float | None = None
    ) -> Generator[pb.AssignmentEvent, None, None]:
        """Offers and assignments as they happen, for `agent_ids` (empty: every agent).

        Runs until the server ends the stream, or for `timeout` seconds if given (no
        default deadline here). Close it early with `contextlib.closing`.
        """
        request = pb.WatchAssignmentsRequest(agent_ids=list(agent_ids))
        call = self._stub.WatchAssignments(request, timeout=timeout, metadata=self._metadata)
        try:
            yield from call
        except grpc.RpcError as exc:
            code, details = _status(exc)
            if code != grpc.StatusCode.DEADLINE_EXCEEDED or timeout is None:
                raise error_for(code, details) from None
        finally:
            call.cancel()  # type: ignore[no-untyped-call]  # the stubs leave it untyped

    def accept(
        self, interaction_id: str, agent_id: str, *, timeout: float | None = None
    ) -> pb.Interaction:
        request = pb.AcceptRequest(interaction_id=interaction_id, agent_id=agent_id)
        return self._call(self._stub.Accept, request, timeout)

    def reject(
        self,
        interaction_id: str,
        agent_id: str,
        *,
        reason: str = "",
        timeout: float | None = None,
    ) -> pb.Interaction:
        request = pb.RejectRequest(interaction_id=interaction_id, agent_id=agent_id, reason=reason)
        return self._call(self._stub.Reject, request, timeout)

    def complete(
        self,
        interaction_id: str,
        *,
        agent_id: str = "",
        disposition: str = "",
        csat: int = 0,
        timeout: float | None = None,
    ) -> pb.Interaction:
        """Finish an interaction: wrap-up follows; `csat` 1..5, 0 for none."""
        request = pb.CompleteRequest(
            interaction_id=interaction_id, agent_id=agent_id, disposition=disposition, csat=csat
        )
        return self._call(self._stub.Complete, request, timeout)

    def cancel(
        self, interaction_id: str, *, reason: str = "", timeout: float | None = None
    ) -> pb.Interaction:
        """The customer left (a hang-up, a closed chat)."""
        request = pb.CancelRequest(interaction_id=interaction_id, reason=reason)
        return self._call(self._stub.Cancel, request, timeout)

    def transfer(
        self,
        interaction_id: str,
        *,
        agent_id: str | None = None,
        required: Skills | None = None,
        queue: bool | str = False,
        mode: TransferModeLike = "warm",
        channel: ChannelLike | None = None,
        reason: str = "",
        to_back: bool = False,
        timeout: float | None = None,
    ) -> pb.Interaction:
        """Transfer to an agent, to a skill requirement, or to a queue (one of them):
        `queue=True` back into its own, `queue="sales"` into that one, keeping its place
        unless `to_back`."""
        request = requests.transfer(
            interaction_id,
            agent_id=agent_id,
            required=required,
            queue=queue,
            mode=mode,
            channel_=channel,
            reason=reason,
            to_back=to_back,
        )
        return self._call(self._stub.Transfer, request, timeout)

    def escalate(
        self, interaction_id: str, *, reason: str = "", timeout: float | None = None
    ) -> pb.Interaction:
        request = pb.EscalateRequest(interaction_id=interaction_id, reason=reason)
        return self._call(self._stub.Escalate, request, timeout)

    def cancel_transfer(
        self,
        interaction_id: str,
        *,
        agent_id: str = "",
        reason: str = "",
        timeout: float | None = None,
    ) -> pb.Interaction:
        """Call off a pending warm transfer; the holder keeps the interaction."""
        request = pb.CancelTransferRequest(
            interaction_id=interaction_id, agent_id=agent_id, reason=reason
        )
        return self._call(self._stub.CancelTransfer, request, timeout)

    def get_interaction(
        self, interaction_id: str, *, timeout: float | None = None
    ) -> pb.Interaction:
        """The interaction with its context and full history."""
        request = pb.GetInteractionRequest(interaction_id=interaction_id)
        return self._call(self._stub.GetInteraction, request, timeout)

    def update_context(
        self,
        interaction_id: str,
        context: Mapping[str, Any] | None = None,
        *,
        remove: Iterable[str] = (),
        timeout: float | None = None,
    ) -> pb.Interaction:
        """Merge `context` into the interaction's context, key by key; drop `remove`."""
        request = requests.update_context(interaction_id, context, remove)
        return self._call(self._stub.UpdateContext, request, timeout)

    # --- operations -----------------------------------------------------------------------

    def explain(self, interaction_id: str, *, timeout: float | None = None) -> pb.Explanation:
        """Why the interaction went (or would go) to its agent."""
        request = pb.ExplainRequest(interaction_id=interaction_id)
        return self._call(self._stub.Explain, request, timeout)

    def stats(self, *, timeout: float | None = None) -> pb.Stats:
        """The tenant's live wallboard figures."""
        return self._call(self._stub.GetStats, pb.GetStatsRequest(), timeout)

    # --- customer data --------------------------------------------------------------------

    def forget_customer(
        self, customer_id: str, *, timeout: float | None = None
    ) -> pb.ForgetCustomerResponse:
        """Erase the customer in this tenant: context, history, index and event stream
        entries; their interactions stay, anonymous. Idempotent: a second call erases
        nothing and says so."""
        request = pb.ForgetCustomerRequest(customer_id=customer_id)
        return self._call(self._stub.ForgetCustomer, request, timeout)

    # --- administration (role admin) ------------------------------------------------------

    def create_tenant(self, tenant_id: str, *, timeout: float | None = None) -> pb.Tenant:
        """Create a tenant (an operator's key): with authentication on, only a created
        tenant takes requests."""
        request = pb.CreateTenantRequest(tenant_id=tenant_id)
        return self._call(self._stub.CreateTenant, request, timeout)

    def list_tenants(self, *, timeout: float | None = None) -> list[pb.Tenant]:
        """The tenants this key may see (an operator's key: all of them)."""
        response = self._call(self._stub.ListTenants, pb.ListTenantsRequest(), timeout)
        return list(response.tenants)

    def delete_tenant(self, tenant_id: str, *, timeout: float | None = None) -> None:
        """Delete a tenant and everything it holds, its API keys included."""
        request = pb.DeleteTenantRequest(tenant_id=tenant_id)
        self._call(self._stub.DeleteTenant, request, timeout)

    def list_audit(
        self, *, page_size: int = 0, page_token: str = "", timeout: float | None = None
    ) -> pb.ListAuditResponse:
        """One page of the tenant's audit trail, newest first; pass `next_page_token` on."""
        request = pb.ListAuditRequest(page_size=page_size, page_token=page_token)
        return self._call(self._stub.ListAudit, request, timeout)


def _status(exc: grpc.RpcError) -> tuple[grpc.StatusCode, str]:
    # Errors of sync calls are also grpc.Call objects, which carry the status.
    if isinstance(exc, grpc.Call):
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.UNKNOWN, str(exc)
