"""The routing core: the compiled extension, or its pure-Python twin.

`CIM_ROUTER_NO_EXTENSIONS=1` forces the twin; so does a platform where the extension was not
built. Type checkers always see the twin, whose API the extension mirrors.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from cim_router._core_common import REASONS, CoreParams

NO_EXTENSIONS = os.environ.get("CIM_ROUTER_NO_EXTENSIONS", "") not in ("", "0")

if TYPE_CHECKING or NO_EXTENSIONS:
    from cim_router._core_py import IMPLEMENTATION, Core
    from cim_router._lsap_py import solve
else:
    try:
        from cim_router._core import IMPLEMENTATION, Core
        from cim_router._lsap import solve
    except ImportError:  # pragma: no cover - only where the extension could not be built
        from cim_router._core_py import IMPLEMENTATION, Core
        from cim_router._lsap_py import solve

__all__ = ["IMPLEMENTATION", "REASONS", "Core", "CoreParams", "solve"]
