"""The gRPC server: the Router service, health, reflection, and a graceful stop."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection as _reflection
from prometheus_client import CollectorRegistry

from cim_router._pb import router_pb2
from cim_router.domain.policy import Policy
from cim_router.observability.http import (
    MetricsAccess,
    MetricsHTTPServer,
    check_access,
    start_metrics_http,
)
from cim_router.observability.interceptor import MetricsInterceptor
from cim_router.observability.live import loop_source, router_snapshots
from cim_router.service.auth import Access
from cim_router.service.handlers import add_router_to_server
from cim_router.service.servicer import RouterServicer
from cim_router.service.tls import ServerTls, TlsCredentials
from cim_router.tenant.clock import Clock
from cim_router.tenant.ports import Store
from cim_router.tenant.registry import DEFAULT_TENANT, TenantLimits, Tenants

if TYPE_CHECKING:
    from cim_router.observability.metrics import Observer

log = logging.getLogger(__name__)

SERVICE_NAME = router_pb2.DESCRIPTOR.services_by_name["Router"].full_name


class Server:
    """A running (or ready to run) router server; `port` is known once started."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 50051,
        *,
        store: Store,
        policy: Policy | None = None,
        clock: Clock = time.time,
        limits: TenantLimits | None = None,
        observer: Observer | None = None,
        metrics_port: int | None = None,
        metrics_skills: frozenset[str] = frozenset(),
        metrics_queues: int = 50,
        metrics_access: MetricsAccess | None = None,
        tls: ServerTls | None = None,
        reflection: bool = True,
        access: Access | None = None,
    ) -> None:
        """`tls`: serve gRPC over TLS (mutual TLS when it names a client CA); its files are
        read here, so a bad one raises TlsError before anything starts. `metrics_access`:
        TLS and/or a bearer token on /metrics. `reflection`: serve gRPC reflection."""
        self.host = host
        self.requested_port = port
        self.port = 0
        self.store = store
        policy = policy or Policy()
        if observer is None and metrics_port is not None:
            observer = _new_observer(policy, metrics_skills, metrics_queues)
        self.observer = observer
        if observer is not None:
            store.metrics = observer  # Redis round trips and errors
        self.metrics_port = metrics_port
        self.metrics_access = metrics_access
        if metrics_access is not None:
            check_access(metrics_access)  # MetricsConfigError before anything starts
        self.tls = tls
        self.credentials = TlsCredentials(tls) if tls is not None else None
        self.metrics: MetricsHTTPServer | None = None
        self.tenants = Tenants(self.store, policy, clock, observer=observer, limits=limits)
        self.tenants.on_health = self._on_health
        self.health = health.aio.HealthServicer()  # type: ignore[attr-defined]  # stubs lag
        self._health_tasks: set[asyncio.Task[None]] = set()
        interceptors = [MetricsInterceptor(observer)] if observer is not None else []
        self._server = grpc.aio.server(interceptors=interceptors)
        # None: no authentication (every caller may do everything; serve binds loopback).
        self.access = access
        self.servicer = RouterServicer(self.tenants, access)
        add_router_to_server(self.servicer, self._server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        if reflection:
            names = (SERVICE_NAME, health.SERVICE_NAME, _reflection.SERVICE_NAME)
            _reflection.enable_server_reflection(names, self._server)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> None:
        address = f"{self.host}:{self.requested_port}"
        if self.credentials is not None:
            self.port = self._server.add_secure_port(address, self.credentials.server_credentials())
        else:
            self.port = self._server.add_insecure_port(address)
        if not self.port:
            raise OSError(f"cannot bind {self.host}:{self.requested_port}")
        await self.store.start()
        await self.tenants.start()
        if self.observer is not None:
            loop, tenants = asyncio.get_running_loop(), self.tenants
            known = {r.tenant for r in tenants.routers()}
            if self.access is None:  # every call without a tenant is the default one's
                known.add(DEFAULT_TENANT)
            methods = router_pb2.DESCRIPTOR.services_by_name["Router"].methods
            self.observer.prepare(sorted(known), [f"{SERVICE_NAME}/{m.name}" for m in methods])
            self.observer.set_snapshot_source(
                loop_source(loop, lambda: router_snapshots(tenants.routers(), tenants.clock()))
            )
            if self.metrics_port is not None:
                self.metrics = start_metrics_http(
                    self.metrics_port, self.host, self.observer.registry, self.metrics_access
                )
                log.info("metrics listening", extra={"address": self.metrics.url})
        await self._server.start()
        await self._set_health(True)
        log.info("cim-router listening", extra={"address": self.address})

    def reload_certificates(self) -> bool:
        """Re-read the TLS files of gRPC and /metrics now (SIGHUP): new connections get the
        new certificates, open ones keep theirs. True if anything new is served."""
        changed = self.credentials.reload() if self.credentials is not None else False
        if self.metrics is not None:
            changed = self.metrics.reload() or changed
        return changed

    async def _set_health(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse
        for name in ("", SERVICE_NAME):
            await self.health.set(name, status.SERVING if serving else status.NOT_SERVING)

    def _on_health(self, serving: bool) -> None:
        """NOT_SERVING while the store is down or reloading, SERVING again after."""
        task = asyncio.get_running_loop().create_task(self._set_health(serving))
        self._health_tasks.add(task)
        task.add_done_callback(self._health_tasks.discard)

    async def wait(self) -> None:
        await self._server.wait_for_termination()

    @property
    def fenced(self) -> asyncio.Event:
        """Set once another server has taken over the store: this one serves nothing more
        and should stop (the CLI then exits with status 3, for a supervisor to restart it)."""
        return self.tenants.fenced

    async def stop(self, grace: float = 10.0) -> None:
        """Report NOT_SERVING, end watch streams and sessions, let in-flight calls finish, then
        stop."""
        await self.health.enter_graceful_shutdown()
        await self.tenants.stop()
        await self.servicer.end_sessions()
        await self._server.stop(grace)
        if self.observer is not None:
            self.observer.set_snapshot_source(None)
        if self.metrics is not None:
            self.metrics.close()
        await self.store.close()
        log.info("cim-router stopped")


def _new_observer(policy: Policy, skills: frozenset[str], queues: int) -> Observer:
    # Imported here: the observer reads the service's records, whose package imports us.
    from cim_router.observability.metrics import Observer, ObserverSettings

    settings = ObserverSettings(skill_labels=skills, max_queue_labels=queues)
    return Observer(CollectorRegistry(), policy, settings)
