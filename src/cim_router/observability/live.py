"""Live state for scrape-time gauges: `router_snapshots` reads each tenant's snapshot (as
`cim_router.tenant.live` defines it) from the tenants' routers, and `loop_source` lets the
metrics HTTP thread ask the server's event loop for them."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from cim_router.tenant.live import WAITING_STATES, LiveSnapshot, live_snapshot
from cim_router.tenant.router import TenantRouter
from cim_router.tenant.windows import measure_rows

__all__ = ["LiveSnapshot", "live_snapshot", "loop_source", "router_snapshots"]


async def router_snapshots(routers: Iterable[TenantRouter], now: float) -> list[LiveSnapshot]:
    """A snapshot of every tenant this server routes, from its live state, with the
    measures' rows GetStats answers with."""
    return [
        dataclasses.replace(
            live_snapshot(
                r.tenant,
                [
                    x
                    for x in r.open.values()
                    if x.interaction.state in WAITING_STATES and not x.not_before
                ],
                r.agents.values(),
                now,
            ),
            measures=tuple(measure_rows(r, now)) if r.available else (),
            queue_open={q: queue.hours.is_open(now) for q, queue in r.queues.items()},
        )
        for r in routers
    ]


def loop_source(
    loop: asyncio.AbstractEventLoop,
    make: Callable[[], Coroutine[Any, Any, list[LiveSnapshot]]],
    timeout: float = 5.0,
) -> Callable[[], list[LiveSnapshot]]:
    """A snapshot source for another thread (the metrics HTTP server's) that runs `make()`
    on `loop`, where the state lives, and waits at most `timeout` seconds for it."""

    def source() -> list[LiveSnapshot]:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:  # waiting on our own loop would deadlock
            raise RuntimeError("a loop snapshot source cannot be read on its loop's thread")
        future = asyncio.run_coroutine_threadsafe(make(), loop)
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()
            raise

    return source
