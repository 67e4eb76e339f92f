"""All tenants of one server, and the clock that drives their timers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from cim_router.domain.limits import check_id
from cim_router.domain.policy import Policy
from cim_router.service.lifecycle import Clock, TenantRouter
from cim_router.service.state import StateStore

if TYPE_CHECKING:
    from cim_router.observability.metrics import Observer

log = logging.getLogger(__name__)

DEFAULT_TENANT = "default"


class Tenants:
    """Creates each tenant's router on first use and runs time-driven work for all of them.

    Timers (offer expiry, wrap-up end) fire within `tick_seconds` of being due; waiting
    interactions are re-matched every `rematch_seconds`, which is how relaxation steps and
    aging take effect without a client call.
    """

    def __init__(
        self,
        store: StateStore,
        policy: Policy | None = None,
        clock: Clock = time.time,
        tick_seconds: float = 0.05,
        rematch_seconds: float = 0.5,
    ) -> None:
        self.store = store
        self.policy = policy or Policy()
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.rematch_seconds = rematch_seconds
        self._routers: dict[str, TenantRouter] = {}
        self._create_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.observer: Observer | None = None  # handed to each tenant's router

    async def get(self, tenant: str) -> TenantRouter:
        found = self._routers.get(tenant)
        if found is not None:
            return found
        check_id("tenant", tenant)
        async with self._create_lock:
            found = self._routers.get(tenant)
            if found is None:
                found = TenantRouter(tenant, self.store, self.policy, self.clock)
                found.observer = self.observer
                await found.load()
                self._routers[tenant] = found
        return found

    async def start(self) -> None:
        for tenant in await self.store.tenants():
            await self.get(tenant)
        self._task = asyncio.create_task(self._run(), name="cim-router-clock")

    async def stop(self) -> None:
        """Stop the clock and end every watch stream."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for router in self._routers.values():
            router.hub.close_all()

    async def _run(self) -> None:
        last_rematch = 0.0
        while True:
            await asyncio.sleep(self.tick_seconds)
            now = time.monotonic()
            rematch = now - last_rematch >= self.rematch_seconds
            if rematch:
                last_rematch = now
            for router in list(self._routers.values()):
                try:
                    await router.tick(rematch)
                except Exception:  # one tenant's failure must not stop the others' timers
                    log.exception("timer work failed for tenant %s", router.tenant)
