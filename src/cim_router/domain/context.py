"""An interaction's context: the client's JSON object, kept and returned as given.

Every response carrying the interaction repeats it, watch streams included, so it must
stay something any stock client can parse: finite numbers (JSON has no NaN or Infinity),
bounded nesting, bounded keys, bounded size.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from cim_router.domain.errors import ValidationError
from cim_router.domain.limits import (
    MAX_CONTEXT_BYTES,
    MAX_CONTEXT_DEPTH,
    MAX_CONTEXT_KEY_LENGTH,
    shown,
)

MASK = "***"  # what a reader not allowed a value sees in its place

# Keys spelled like this read as `context.a.b` in error messages; others as `context['a b']`.
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def context_size(context: Mapping[str, Any]) -> int:
    """Bytes of the context as compact JSON."""
    return len(json.dumps(context, separators=(",", ":")).encode())


def check_context(field: str, context: Mapping[str, Any]) -> None:
    """Raise ValidationError naming the path of the first value that breaks a rule: keys
    1..256 characters, numbers finite, objects and lists nested at most 16 deep (the
    context itself is level 1); then at most 64 KiB as JSON."""
    _check_value(field, context, 1)
    size = context_size(context)
    if size > MAX_CONTEXT_BYTES:
        raise ValidationError(
            field, f"must be at most {MAX_CONTEXT_BYTES} bytes as JSON, got {size}"
        )


def check_context_key(field: str, key: str) -> None:
    """A key of the context, at any level, or one to remove: 1..256 characters."""
    if not key:
        raise ValidationError(field, "keys must not be empty")
    if len(key) > MAX_CONTEXT_KEY_LENGTH:
        raise ValidationError(
            field,
            f"key {shown(key)} is {len(key)} characters; keys are at most {MAX_CONTEXT_KEY_LENGTH}",
        )


def key_path(parent: str, key: str) -> str:
    """How an error message names the value under `key`."""
    if _PLAIN_KEY.fullmatch(key) and len(key) <= 32:
        return f"{parent}.{key}"
    return f"{parent}[{shown(key)}]"


def _check_value(path: str, value: Any, depth: int) -> None:
    """Check `value`, which is at nesting level `depth` if it is an object or a list."""
    if isinstance(value, (Mapping, list)) and depth > MAX_CONTEXT_DEPTH:
        raise ValidationError(path, f"nesting deeper than {MAX_CONTEXT_DEPTH} levels")
    if isinstance(value, Mapping):
        for key, item in value.items():
            check_context_key(path, key)
            _check_value(key_path(path, key), item, depth + 1)
    elif isinstance(value, list):
        for k, item in enumerate(value):
            _check_value(f"{path}[{k}]", item, depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(path, f"must be a finite number, got {value}")


def masked(context: Mapping[str, Any], keys: frozenset[str]) -> dict[str, Any]:
    """The context with the values of `keys` (top-level keys) replaced by MASK."""
    return {k: MASK if k in keys else v for k, v in context.items()}


def keys_only(context: Mapping[str, Any]) -> dict[str, Any]:
    """The context's keys, every value replaced by MASK."""
    return dict.fromkeys(context, MASK)
