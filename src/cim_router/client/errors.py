"""The client's exceptions: one RouterError per gRPC status the router reports."""

from __future__ import annotations

import grpc


class RouterError(Exception):
    """A call the router refused or could not answer; `code` says why."""

    def __init__(self, code: grpc.StatusCode, details: str, *, attempts: int = 1) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details
        # How many times the call was sent (more than 1 after retries on UNAVAILABLE).
        self.attempts = attempts


class InvalidArgument(RouterError):
    """Bad input; `details` starts with the field name (`"priority: must be 0..100"`)."""

    @property
    def field(self) -> str:
        return self.details.partition(":")[0]


class NotFound(RouterError):
    """No such agent or interaction (in this tenant)."""


class AlreadyExists(RouterError):
    """An interaction id reused for a different request."""


class FailedPrecondition(RouterError):
    """A transition the current state forbids."""


class Unavailable(RouterError):
    """The router (or its store) cannot be reached; safe calls were retried first."""


class DeadlineExceeded(RouterError):
    """The call's deadline passed before an answer came."""


class OutOfRange(RouterError):
    """WatchEvents: the id to resume after was trimmed from the stream; `details` names
    the id the stream now starts at."""


_BY_CODE: dict[grpc.StatusCode, type[RouterError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.OUT_OF_RANGE: OutOfRange,
}


def error_for(code: grpc.StatusCode, details: str | None, attempts: int = 1) -> RouterError:
    """The RouterError (subclass) for a status code."""
    return _BY_CODE.get(code, RouterError)(code, details or "", attempts=attempts)
