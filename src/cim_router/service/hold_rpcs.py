"""Hold, Resume and SubmitFeedback: wire in, tenant operation, wire out.

A feedback comment is customer data: it is checked and stored, never logged or echoed in
an error message."""

from __future__ import annotations

from collections.abc import Mapping

from cim_router._pb import router_pb2 as pb
from cim_router.domain.limits import (
    MAX_CSAT,
    MAX_FEEDBACK_COMMENT_LENGTH,
    MAX_FEEDBACK_FIELD_NAME_LENGTH,
    MAX_FEEDBACK_FIELD_VALUE_LENGTH,
    MAX_FEEDBACK_FIELDS,
    shown,
)
from cim_router.service import convert, responses
from cim_router.service.rpc import Context, TenantLookups, request_key, rpc
from cim_router.tenant import feedback, holds
from cim_router.tenant.errors import InvalidArgument
from cim_router.tenant.records import InteractionRecord
from cim_router.tenant.router import TenantRouter


def _out(router: TenantRouter, rec: InteractionRecord) -> pb.Interaction:
    sensitive = router.policy.sensitive_context_keys
    return responses.interaction_out(rec, (), sensitive, now=router.clock())


def feedback_csat_in(value: int) -> int:
    if not 1 <= value <= MAX_CSAT:
        raise InvalidArgument("csat", f"must be 1..{MAX_CSAT}, got {value}")
    return value


def feedback_fields_in(fields: Mapping[str, str]) -> dict[str, str]:
    """At most MAX_FEEDBACK_FIELDS answers, names 1..64 characters, values at most 256;
    no NUL in either. A value is never quoted back."""
    if len(fields) > MAX_FEEDBACK_FIELDS:
        raise InvalidArgument("fields", f"at most {MAX_FEEDBACK_FIELDS} fields, got {len(fields)}")
    for name in sorted(fields):
        if not name:
            raise InvalidArgument("fields", "names must not be empty")
        convert.text_in("fields", name, MAX_FEEDBACK_FIELD_NAME_LENGTH)
        field = f"fields[{shown(name)}]"
        convert.text_in(field, fields[name], MAX_FEEDBACK_FIELD_VALUE_LENGTH)
    return dict(fields)


class HoldRpcs(TenantLookups):
    @rpc
    async def Hold(self, request: pb.HoldRequest, context: Context) -> pb.Interaction:
        convert.require_id("interaction_id", request.interaction_id)
        convert.optional_id("agent_id", request.agent_id)
        convert.reason_in(request.reason)
        key = request_key(context, "Hold", request)
        router = self._found(context, f"interaction {request.interaction_id!r}")
        rec = await holds.hold(
            router, request.interaction_id, request.agent_id, request.reason, key
        )
        return _out(router, rec)

    @rpc
    async def Resume(self, request: pb.ResumeRequest, context: Context) -> pb.Interaction:
        convert.require_id("interaction_id", request.interaction_id)
        convert.optional_id("agent_id", request.agent_id)
        key = request_key(context, "Resume", request)
        router = self._found(context, f"interaction {request.interaction_id!r}")
        rec = await holds.resume(router, request.interaction_id, request.agent_id, key)
        return _out(router, rec)

    @rpc
    async def SubmitFeedback(
        self, request: pb.SubmitFeedbackRequest, context: Context
    ) -> pb.Interaction:
        convert.require_id("interaction_id", request.interaction_id)
        csat = feedback_csat_in(request.csat)
        convert.text_in("comment", request.comment, MAX_FEEDBACK_COMMENT_LENGTH)
        fields = feedback_fields_in(request.fields)
        key = request_key(context, "SubmitFeedback", request)
        router = self._found(context, f"interaction {request.interaction_id!r}")
        rec = await feedback.submit(
            router, request.interaction_id, csat, request.comment, fields, key
        )
        return _out(router, rec)
