"""What both clients' sessions share: a request in its SessionRequest envelope (with a
fresh request id for a call that writes), and an answer as a result or a RouterError."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import grpc
from google.protobuf.message import Message

from cim_router._pb import router_pb2 as pb
from cim_router.client.calls import writes
from cim_router.client.errors import RouterError, error_for

# A call's request type (full name) -> its field in SessionRequest's oneof `call`.
CALL_FIELDS: dict[str, str] = {
    f.message_type.full_name: f.name
    for f in pb.SessionRequest.DESCRIPTOR.oneofs_by_name["call"].fields
    if f.message_type is not None
}
_CODES = {code.value[0]: code for code in grpc.StatusCode}


def envelope(correlation_id: str, request: Message, request_id: str | None) -> pb.SessionRequest:
    """`request` as the call of a SessionRequest; TypeError for one a session cannot make."""
    field = CALL_FIELDS.get(request.DESCRIPTOR.full_name)
    if field is None:
        raise TypeError(f"a session cannot make {type(request).__name__} calls")
    if request_id is None:
        request_id = uuid4().hex if writes(request) else ""
    out = pb.SessionRequest(correlation_id=correlation_id, request_id=request_id)
    getattr(out, field).CopyFrom(request)
    return out


def outcome(response: pb.SessionResponse) -> tuple[Any, RouterError | None]:
    """An answer's result, or the RouterError of its error."""
    kind = response.WhichOneof("result")
    if kind == "error":
        code = _CODES.get(response.error.code, grpc.StatusCode.UNKNOWN)
        return None, error_for(code, response.error.message)
    return (getattr(response, kind) if kind is not None else None), None


def ended(code: grpc.StatusCode | None = None, details: str | None = None) -> RouterError:
    """What a call still unanswered when its session ended raises."""
    if code is None or code == grpc.StatusCode.OK:
        return error_for(grpc.StatusCode.UNAVAILABLE, "the session ended before answering")
    return error_for(code, details)
