"""Errors raised by the domain for bad input; each names the offending field."""

from __future__ import annotations


class ValidationError(ValueError):
    """Input that breaks a rule of the model; `field` names where."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
