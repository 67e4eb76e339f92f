"""The routing core: the compiled extension, or its pure-Python twin.

`CIM_ROUTER_NO_EXTENSIONS=1` forces the twin; so does a platform where the extension was not
built. Type checkers always see the twin, whose API the extension mirrors.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cim_router._core_common import REASONS, CoreParams

NO_EXTENSIONS = os.environ.get("CIM_ROUTER_NO_EXTENSIONS", "") not in ("", "0")

if TYPE_CHECKING or NO_EXTENSIONS:
    from cim_router._core_py import IMPLEMENTATION, Core
else:
    try:
        from cim_router._core import IMPLEMENTATION, Core
    except ImportError:  # pragma: no cover - only where the extension could not be built
        from cim_router._core_py import IMPLEMENTATION, Core


def _load_solver() -> Callable[..., Any] | None:
    """The joint-assignment solver, compiled or pure Python; None where neither exists."""
    names = ("_lsap_py",) if NO_EXTENSIONS else ("_lsap", "_lsap_py")
    for name in names:
        try:
            solver: Callable[..., Any] = importlib.import_module(f"cim_router.{name}").solve
        except ImportError:
            continue
        return solver
    return None


solve = _load_solver()

__all__ = ["IMPLEMENTATION", "REASONS", "Core", "CoreParams", "solve"]
