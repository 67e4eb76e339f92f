"""The limits an interaction's context must keep, wherever it is set or merged."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cim_router.domain.limits import MAX_CONTEXT_BYTES
from cim_router.service.errors import InvalidArgument


def context_size(context: Mapping[str, Any]) -> int:
    return len(json.dumps(context, separators=(",", ":")).encode())


def check_context(context: Mapping[str, Any], field: str = "context") -> None:
    if context_size(context) > MAX_CONTEXT_BYTES:
        raise InvalidArgument(field, f"must be at most {MAX_CONTEXT_BYTES} bytes as JSON")


def context_fits(context: Mapping[str, Any]) -> bool:
    """Whether a context built by the router (a merge) keeps the limits."""
    try:
        check_context(context)
    except InvalidArgument:
        return False
    return True
