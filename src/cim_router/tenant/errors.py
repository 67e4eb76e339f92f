"""Why the router refuses a call, in its own terms: each refusal carries a transport-neutral
`Code` that the service layer maps to a gRPC status. A refused call changed nothing."""

from __future__ import annotations

import enum


class Code(enum.Enum):
    """What kind of refusal; the names are those of the gRPC status codes they become."""

    INVALID_ARGUMENT = "invalid_argument"
    NOT_FOUND = "not_found"
    FAILED_PRECONDITION = "failed_precondition"
    ALREADY_EXISTS = "already_exists"
    RESOURCE_EXHAUSTED = "resource_exhausted"
    UNAVAILABLE = "unavailable"
    UNAUTHENTICATED = "unauthenticated"
    PERMISSION_DENIED = "permission_denied"
    OUT_OF_RANGE = "out_of_range"


class ServiceError(Exception):
    """A request the router refuses; nothing was changed."""

    code: Code = Code.FAILED_PRECONDITION

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(ServiceError):
    code = Code.INVALID_ARGUMENT

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field


class NotFound(ServiceError):
    code = Code.NOT_FOUND


class FailedPrecondition(ServiceError):
    code = Code.FAILED_PRECONDITION


class AlreadyExists(ServiceError):
    code = Code.ALREADY_EXISTS


class ResourceExhausted(ServiceError):
    """A per-tenant limit (open streams, parked calls) is reached; nothing was changed."""

    code = Code.RESOURCE_EXHAUSTED


class Unavailable(ServiceError):
    """The store cannot be reached (or the outcome of a write is unknown)."""

    code = Code.UNAVAILABLE


class Unauthenticated(ServiceError):
    """No valid credential: the key is missing, malformed, unknown or revoked."""

    code = Code.UNAUTHENTICATED


class PermissionDenied(ServiceError):
    """A valid credential used outside its tenant, role or agent. `caller` names it (for the
    audit trail), never its secret."""

    code = Code.PERMISSION_DENIED

    def __init__(self, message: str, caller: str = "") -> None:
        super().__init__(message)
        self.caller = caller


class OutOfRange(ServiceError):
    """A place asked for is no longer kept (an event stream id trimmed away)."""

    code = Code.OUT_OF_RANGE
