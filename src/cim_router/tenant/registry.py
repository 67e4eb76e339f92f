"""All tenants of one server, the one clock task that fires their timers, and what happens
when the store goes away, comes back, or is taken over by another server.

A tenant exists once it has written something: reads of an unknown tenant create nothing,
and a write that is refused leaves no tenant behind. An idle tenant costs no CPU: every
timer of every tenant sits in one heap, and the clock task sleeps until the first is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from cim_router.domain.limits import check_id
from cim_router.domain.policy import Policy
from cim_router.tenant import due, event_stream, loading
from cim_router.tenant.caller import ROUTER, acting_as
from cim_router.tenant.clock import Clock, wall_clock
from cim_router.tenant.errors import Unavailable
from cim_router.tenant.ports import Observer, Store
from cim_router.tenant.router import TenantRouter
from cim_router.tenant.timers import Timer, Timers

log = logging.getLogger(__name__)

DEFAULT_TENANT = "default"
IDLE_WAKEUP = 1.0  # the clock task looks at least this often, in case the clock jumps


@dataclass(frozen=True)
class TenantLimits:
    """Per-tenant caps on what holds server resources open."""

    max_watch_streams: int = 1000  # concurrent WatchAssignments streams
    max_event_streams: int = 100  # concurrent WatchEvents streams
    max_parked_assigns: int = 1000  # Assign calls waiting for work
    request_seconds: float = 3600.0  # how long a request id's outcome is kept


class Tenants:
    """The tenants' routers, created on first write, and their timers."""

    def __init__(
        self,
        store: Store,
        policy: Policy | None = None,
        clock: Clock = wall_clock,
        observer: Observer | None = None,
        limits: TenantLimits | None = None,
    ) -> None:
        self.store = store
        self.policy = policy or Policy()
        self.clock = clock
        self.observer = observer
        self.limits = limits or TenantLimits()
        self.timers = Timers()
        self.on_health: Callable[[bool], None] = lambda serving: None
        self.fenced = asyncio.Event()  # set once another server has taken over the store
        self._routers: dict[str, TenantRouter] = {}
        self._task: asyncio.Task[None] | None = None
        self._reload: asyncio.Task[None] | None = None
        self._repairs: set[asyncio.Task[None]] = set()
        store.listen(self)

    def routers(self) -> list[TenantRouter]:
        return list(self._routers.values())

    def find(self, tenant: str) -> TenantRouter | None:
        """The tenant's router if the tenant exists; a read never creates one."""
        if self.fenced.is_set():
            raise Unavailable("store unavailable: another server has taken it over")
        return self._routers.get(tenant)

    def use(self, tenant: str) -> _Use:
        """`async with tenants.use(name) as router`: the tenant's router for a call that may
        write, created (in memory only) if the tenant is new; a new tenant that wrote
        nothing is forgotten when its last call ends."""
        return _Use(self, tenant)

    def enter(self, tenant: str) -> TenantRouter:
        """The start of `use`: the router, counted as in use."""
        router = self.find(tenant)
        if router is None:
            check_id("tenant", tenant)
            if not self.store.healthy:
                raise Unavailable("store unavailable: redis is unreachable")
            router = self._new(tenant)
            router.available = True  # nothing stored yet: the empty state is the truth
            self._routers[tenant] = router
        router.users += 1
        return router

    def leave(self, router: TenantRouter) -> None:
        """The end of `use`."""
        router.users -= 1
        if not router.users and not router.persisted and not len(router.hub):
            self._forget(router)

    def remove(self, tenant: str) -> None:
        """A deleted tenant leaves this server: its router stops taking calls, its watch
        streams and waiting Assign calls end, its timers are dropped."""
        router = self._routers.get(tenant)
        if router is not None:
            router.on_lost()  # a call still in flight writes nothing more
            router.hub.close_all()
            self._forget(router)

    def _new(self, tenant: str) -> TenantRouter:
        router = TenantRouter(
            tenant,
            self.store,
            self.policy,
            self.clock,
            self.timers,
            self.observer,
            request_seconds=self.limits.request_seconds,
        )
        router.on_poisoned = self._repair
        return router

    def _forget(self, router: TenantRouter) -> None:
        if self._routers.get(router.tenant) is router:
            del self._routers[router.tenant]
            self.timers.drop(router)

    async def start(self, clock_task: bool = True) -> None:
        """Load every tenant the store knows (a restart's recovery), then start the clock
        task (without it, `fire_due` fires what is due: a manual clock's tests do so)."""
        for tenant in await self.store.tenants():
            router = self._new(tenant)
            router.persisted = True
            await loading.load(router, restart=True)
            self._routers[tenant] = router
        if clock_task:
            self._task = asyncio.create_task(self._run(), name="cim-router-clock")

    async def stop(self) -> None:
        """Stop the clock and end every watch stream."""
        for task in (self._task, self._reload, *self._repairs):
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
            event_stream.on_durable(router, seq)

    def on_lost(self) -> None:
        log.warning("store lost unwritten changes; serving stops until it is reloaded")
        for router in self._routers.values():
            router.on_lost()
        self.on_health(False)

    def on_recovered(self) -> None:
        if self._reload is None or self._reload.done():
            # A task copies the context it starts in, maybe a call's: the reload is the
            # router's own, whoever's call noticed the outage.
            with acting_as(ROUTER):
                self._reload = asyncio.create_task(self._reload_all(), name="cim-router-reload")

    def on_fenced(self) -> None:
        for router in self._routers.values():
            router.on_lost()
            router.hub.close_all()
        self.on_health(False)
        self.fenced.set()

    async def _reload_all(self) -> None:
        """Reload every tenant, as often as it takes: the store may drop again meanwhile
        (a Redis still loading its data answers with errors at first)."""
        while not self.fenced.is_set():
            if not self.store.healthy:
                await asyncio.sleep(0.05)
                continue
            try:
                for router in list(self._routers.values()):
                    await loading.load(router, restart=False)
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

    def _repair(self, router: TenantRouter) -> None:
        """Reload one tenant whose live state went wrong; the others keep serving."""
        with acting_as(ROUTER):  # the router's own, not the call's that found the fault
            task = asyncio.get_running_loop().create_task(self._reload_one(router))
        self._repairs.add(task)
        task.add_done_callback(self._repairs.discard)

    async def _reload_one(self, router: TenantRouter) -> None:
        delay = 0.05
        while not self.fenced.is_set() and self._routers.get(router.tenant) is router:
            if self.store.healthy:
                try:
                    await loading.load(router, restart=False)
                    return
                except Unavailable:
                    pass  # the store's recovery reloads every tenant
                except Exception:
                    log.exception("tenant reload failed; retrying", extra={"tenant": router.tenant})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    # --- time -----------------------------------------------------------------------------

    async def _run(self) -> None:
        timers = self.timers
        while True:
            timers.changed.clear()
            next_due = timers.next_due()
            delay = IDLE_WAKEUP if next_due is None else next_due - self.clock()
            if delay > 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(timers.changed.wait(), min(delay, IDLE_WAKEUP))
            await self.fire_due()

    async def fire_due(self) -> None:
        """Fire every timer that is due by the clock, tenant by tenant."""
        by_router: dict[TenantRouter, list[Timer]] = {}
        for timer in self.timers.pop_due(self.clock()):
            assert isinstance(timer.owner, TenantRouter)
            by_router.setdefault(timer.owner, []).append(timer)
        for router, timers in by_router.items():
            if self._routers.get(router.tenant) is not router:
                continue
            try:
                await due.fire(router, timers)
            except Unavailable:
                pass  # the store is down; its recovery reloads this tenant
            except Exception:  # one tenant's failure must not stop the others' timers
                log.exception("timer work failed", extra={"tenant": router.tenant})


class _Use:
    """The async context manager of `Tenants.use` (a class: cheaper than a generator on a
    path every call takes)."""

    __slots__ = ("router", "tenant", "tenants")

    def __init__(self, tenants: Tenants, tenant: str) -> None:
        self.tenants = tenants
        self.tenant = tenant

    async def __aenter__(self) -> TenantRouter:
        self.router = self.tenants.enter(self.tenant)
        return self.router

    async def __aexit__(self, *exc: object) -> None:
        self.tenants.leave(self.router)
