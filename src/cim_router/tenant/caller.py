"""Who is making the change a unit of work writes: recorded on every event, for audit.

The service sets it for each call it hands to the tenant (an API key's id, a client
certificate's subject, or "" when the server runs without authentication); timers and
the router's own repairs run as `ROUTER`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

ROUTER = "router"  # the router itself: timers, expiries, restarts

current_caller: ContextVar[str] = ContextVar("cim_router_caller", default=ROUTER)


@contextlib.contextmanager
def acting_as(caller: str) -> Iterator[None]:
    """Run the calls made inside on behalf of `caller`."""
    token = current_caller.set(caller)
    try:
        yield
    finally:
        current_caller.reset(token)
