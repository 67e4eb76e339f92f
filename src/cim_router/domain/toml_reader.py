"""Reading a TOML file's tables (the policy's, a simulation scenario's), every error naming
its key: a walker that marks the keys it reads, so a key left over is an error, and the
checks of the values it reads.

A check takes the raw value and returns it converted, raising TypeError or ValueError with
the reason; the walker raises that reason as the caller's error (PolicyError,
ScenarioError: an `ErrorFactory`), with the key and the file. The readers of the queue and
rule tables (domain/table_values.py) raise ValidationError naming their own key; a walker
takes those over with `validated`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from cim_router.domain.errors import ValidationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

T = TypeVar("T")

# (key, reason, source) -> the error to raise, e.g. PolicyError
ErrorFactory = Callable[[str, str, str], ValueError]


def load_toml(path: str | Path, error: ErrorFactory) -> dict[str, Any]:
    """A TOML file's top table; a file that cannot be read, or parsed, is `error`
    ("(file)", "(syntax)") with the path as its source."""
    p = Path(path)
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise error("(file)", f"cannot read: {exc.strerror}", str(p)) from None
    except tomllib.TOMLDecodeError as exc:
        raise error("(syntax)", str(exc), str(p)) from None


class TableReader:
    """Walks one TOML table, remembering which keys were used so leftovers are errors."""

    def __init__(
        self, table: Mapping[str, Any], prefix: str, source: str, error: ErrorFactory
    ) -> None:
        self.table = table
        self.prefix = prefix
        self.source = source
        self.error = error
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def fail(self, name: str, reason: str) -> ValueError:
        return self.error(self.key(name), reason, self.source)

    def get(self, name: str, default: T, check: Callable[[Any], T], required: bool = False) -> T:
        """The value of `name` through `check`; `default` if absent, unless `required`."""
        self.used.add(name)
        if name not in self.table:
            if required:
                raise self.fail(name, "is required")
            return default
        try:
            return check(self.table[name])
        except (TypeError, ValueError) as exc:
            raise self.fail(name, str(exc)) from None

    def sub(self, name: str) -> TableReader:
        """The table `name` (empty if absent)."""
        self.used.add(name)
        value = self.table.get(name, {})
        if not isinstance(value, Mapping):
            raise self.fail(name, "must be a table")
        return TableReader(value, f"{self.key(name)}.", self.source, self.error)

    def element(self, name: str, index: int, value: Any) -> TableReader:
        """`value`, the table at `name[index]` of an array of tables."""
        label = f"{name}[{index}]"
        if not isinstance(value, Mapping):
            raise self.fail(label, "must be a table")
        return TableReader(value, f"{self.key(label)}.", self.source, self.error)

    def validated(self, read: Callable[[], T]) -> T:
        """`read()`, its ValidationError (which names its key) raised as this reader's
        error."""
        try:
            return read()
        except ValidationError as exc:
            raise self.error(exc.field, exc.reason, self.source) from None

    def finish(self) -> None:
        for name in self.table:
            if name not in self.used:
                raise self.fail(name, "unknown key")


# --- checks ----------------------------------------------------------------------------------


def number(
    lo: float | None = None, hi: float | None = None, *, above: float | None = None
) -> Callable[[Any], float]:
    """A finite number, at least `lo`, at most `hi`, greater than `above` (each if given)."""

    def check(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise TypeError(f"must be a number, got {type(v).__name__}")
        f = float(v)
        if f != f or f in (float("inf"), float("-inf")):
            raise ValueError("must be finite")
        if lo is not None and f < lo:
            raise ValueError(f"must be >= {lo:g}, got {f:g}")
        if hi is not None and f > hi:
            raise ValueError(f"must be <= {hi:g}, got {f:g}")
        if above is not None and f <= above:
            raise ValueError(f"must be > {above:g}, got {f:g}")
        return f

    return check


def integer(lo: int, hi: int) -> Callable[[Any], int]:
    """An integer in lo..hi."""

    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"must be an integer, got {type(v).__name__}")
        if not lo <= v <= hi:
            raise ValueError(f"must be {lo}..{hi}, got {v}")
        return v

    return check


def boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise TypeError(f"must be true or false, got {type(v).__name__}")
    return v


def text(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError(f"must be a string, got {type(v).__name__}")
    return v


def choice(*options: str) -> Callable[[Any], str]:
    """One of `options`."""

    def check(v: Any) -> str:
        if v not in options:
            raise ValueError(f"must be one of {', '.join(options)}, got {v!r}")
        return str(v)

    return check
