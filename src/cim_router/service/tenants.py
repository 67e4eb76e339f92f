"""All tenants of one server, the clock that drives their timers, and what happens when
the store goes away and comes back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from cim_router.domain.limits import check_id
from cim_router.domain.policy import Policy
from cim_router.service.errors import Unavailable
from cim_router.service.lifecycle import Clock, Observer, TenantRouter
from cim_router.service.state import Store

log = logging.getLogger(__name__)

DEFAULT_TENANT = "default"


class Tenants:
    """Creates each tenant's router on first use and runs time-driven work for all of them.

    Timers (offer expiry, wrap-up end) fire within `tick_seconds` of being due; every
    `rematch_seconds` each tenant checks whether a relaxation step has started and, if so,
    re-matches its queue, without a client call.
    """

    def __init__(
        self,
        store: Store,
        policy: Policy | None = None,
        clock: Clock = time.time,
        tick_seconds: float = 0.05,
        rematch_seconds: float = 0.5,
        observer: Observer | None = None,
    ) -> None:
        self.store = store
        self.policy = policy or Policy()
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.rematch_seconds = rematch_seconds
        self.observer = observer
        self.on_health: Callable[[bool], None] = lambda serving: None
        self._routers: dict[str, TenantRouter] = {}
        self._create_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._reload: asyncio.Task[None] | None = None
        store.listen(self)

    def routers(self) -> list[TenantRouter]:
        return list(self._routers.values())

    async def get(self, tenant: str) -> TenantRouter:
        found = self._routers.get(tenant)
        if found is not None:
            return found
        check_id("tenant", tenant)
        if not self.store.healthy:
            raise Unavailable("store unavailable: redis is unreachable")
        async with self._create_lock:
            found = self._routers.get(tenant)
            if found is None:
                found = TenantRouter(tenant, self.store, self.policy, self.clock, self.observer)
                await self.store.add_tenant(tenant)
                await found.load(restart=True)
                self._routers[tenant] = found
        return found

    async def start(self) -> None:
        """Load every tenant the store knows (a restart's recovery), then start the clock."""
        for tenant in await self.store.tenants():
            await self.get(tenant)
        self._task = asyncio.create_task(self._run(), name="cim-router-clock")

    async def stop(self) -> None:
        """Stop the clock and end every watch stream."""
        for task in (self._task, self._reload):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._reload = None
        for router in self._routers.values():
            router.hub.close_all()

    # --- the store's news -----------------------------------------------------------------

    def on_durable(self, seq: int) -> None:
        for router in self._routers.values():
            router.on_durable(seq)

    def on_lost(self) -> None:
        log.warning("store lost unwritten changes; serving stops until it is reloaded")
        for router in self._routers.values():
            router.on_lost()
        self.on_health(False)

    def on_recovered(self) -> None:
        if self._reload is None or self._reload.done():
            self._reload = asyncio.create_task(self._reload_all(), name="cim-router-reload")

    async def _reload_all(self) -> None:
        """Reload every tenant, as often as it takes: the store may drop again meanwhile
        (a Redis still loading its data answers with errors at first)."""
        while True:
            if not self.store.healthy:
                await asyncio.sleep(0.05)
                continue
            try:
                for router in list(self._routers.values()):
                    await router.load(restart=False)
            except Unavailable:
                continue
            except Exception:
                log.exception("reload failed; retrying")
                await asyncio.sleep(1.0)
                continue
            if self.store.healthy and all(r.available for r in self._routers.values()):
                log.info("store recovered; serving again")
                self.on_health(True)
                return

    # --- time -----------------------------------------------------------------------------

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
                except Unavailable:
                    pass  # the store is down; its recovery reloads this tenant
                except Exception:  # one tenant's failure must not stop the others' timers
                    log.exception("timer work failed", extra={"tenant": router.tenant})
