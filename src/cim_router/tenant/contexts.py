"""The limits an interaction's context must keep wherever the router builds one (a merge
of updates, a returning customer's earlier context); the rules are the domain's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cim_router.domain import context as domain_context
from cim_router.domain.errors import ValidationError
from cim_router.tenant.errors import InvalidArgument


def check_context(context: Mapping[str, Any], field: str = "context") -> None:
    """Every rule of a context (domain/context.py), for contexts merged from others."""
    try:
        domain_context.check_context(field, context)
    except ValidationError as exc:
        raise InvalidArgument(exc.field, exc.reason) from None


def context_fits(context: Mapping[str, Any]) -> bool:
    """Whether a context built by the router (a merge) keeps the limits."""
    try:
        check_context(context)
    except InvalidArgument:
        return False
    return True
