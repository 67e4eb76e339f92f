"""Size limits of the public contract, checked at the edge of the domain."""

from __future__ import annotations

from cim_router.domain.errors import ValidationError

MAX_ID_LENGTH = 128
MAX_SKILL_NAME_LENGTH = 64
MAX_CONTEXT_BYTES = 64 * 1024


def check_id(field: str, value: str) -> None:
    """An id is 1..128 printable characters."""
    if not value:
        raise ValidationError(field, "must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise ValidationError(field, f"must be at most {MAX_ID_LENGTH} characters")
    if not value.isprintable():
        raise ValidationError(field, "must contain printable characters only")


def check_skill_name(field: str, value: str) -> None:
    if not value or len(value) > MAX_SKILL_NAME_LENGTH or not value.isprintable():
        raise ValidationError(
            field, f"skill names are 1..{MAX_SKILL_NAME_LENGTH} printable characters"
        )
