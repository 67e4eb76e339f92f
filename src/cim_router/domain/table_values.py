"""Values of the policy file's tables (and of the store's queue tables), each check naming
the key it reads: numbers, integers, strings, booleans and skill requirements."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cim_router.domain.errors import ValidationError
from cim_router.domain.interaction import SkillRequirement


def number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(where, "must be a number")
    f = float(value)
    if f != f or f in (float("inf"), float("-inf")):
        raise ValidationError(where, "must be finite")
    return f


def integer(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(where, "must be an integer")
    return value


def string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(where, "must be a string")
    return value


def boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(where, "must be true or false")
    return value


def skills(value: Any, where: str) -> tuple[SkillRequirement, ...]:
    """`{billing = 3, french = 1}` or `["billing", ...]` (level 1)."""
    if isinstance(value, list):
        return tuple(SkillRequirement(string(s, f"{where}[{k}]"), 1) for k, s in enumerate(value))
    if not isinstance(value, Mapping):
        raise ValidationError(where, "must be a table of skill -> minimum level")
    return tuple(
        SkillRequirement(str(name), integer(level, f"{where}.{name}"))
        for name, level in value.items()
    )
