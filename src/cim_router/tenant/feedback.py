"""Feedback: when an interaction becomes COMPLETED the router asks for a survey
(FEEDBACK_REQUESTED, in its history and the tenant's event stream: the interaction id, its
channel, the agent and, as the event's reason, the customer id; no context values), and
SubmitFeedback records the customer's answer within the policy's
`feedback_window_seconds` of the completion.

The CSAT counts once per interaction (tenant/counting.py `csat_given`): a later score,
from Complete or SubmitFeedback, replaces the earlier one. The comment and the fields are
customer data: never logged, erased by ForgetCustomer (tenant/forget.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from cim_router.domain.interaction import InteractionState
from cim_router.tenant import counting
from cim_router.tenant.errors import FailedPrecondition, NotFound
from cim_router.tenant.records import EventType, InteractionRecord, RequestKey, RequestOutcome
from cim_router.tenant.router import TenantRouter


def requested(r: TenantRouter, rec: InteractionRecord) -> None:
    """`rec` has just become COMPLETED (in the open unit): when, and the survey request."""
    rec.completed_at = r.clock()
    r.event(rec, EventType.FEEDBACK_REQUESTED, rec.agent_id, rec.interaction.customer_id)


def completed_at(rec: InteractionRecord) -> float:
    """When `rec` was completed; a record stored before completion times were kept: the
    end of its wrap-up, or its last accept."""
    return rec.completed_at or rec.wrap_up_until or rec.assigned_at


async def submit(
    r: TenantRouter,
    interaction_id: str,
    csat: int,
    comment: str,
    fields: Mapping[str, str],
    request: RequestKey | None = None,
) -> InteractionRecord:
    """Record (or replace) a completed interaction's feedback. The interaction may be long
    out of memory: it is read from the store first."""
    r.check_available()
    stored = None
    if interaction_id not in r.open and interaction_id not in r.closed:
        stored = await r.store.read_interaction(r.tenant, interaction_id)

    def apply() -> InteractionRecord:
        rec = r.open.get(interaction_id) or r.closed.get(interaction_id) or stored
        if rec is None:
            raise NotFound(f"interaction {interaction_id!r} not found")
        state = rec.interaction.state
        if state != InteractionState.COMPLETED:
            raise FailedPrecondition(
                f"interaction {interaction_id!r} is {state.name}, not COMPLETED"
            )
        window = r.policy.feedback_window_seconds
        if r.clock() - completed_at(rec) > window:
            raise FailedPrecondition(
                f"interaction {interaction_id!r} was completed more than {window:g} seconds "
                "ago (feedback_window_seconds)"
            )
        r.put(rec)
        counting.csat_given(r, rec, csat)
        rec.csat = csat
        rec.feedback_comment = comment
        rec.feedback_fields = dict(fields)
        r.event(rec, EventType.FEEDBACK_RECEIVED, rec.agent_id)
        return rec.snapshot()

    async def replay(outcome: RequestOutcome) -> InteractionRecord:
        return (await r.interaction(outcome.entity)).snapshot()

    return await r.mutate(apply, request, replay, interaction_id)
