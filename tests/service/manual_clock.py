"""A live server (real gRPC, real Redis) on a manual clock, for the service suites where
time matters: `advance` moves the clock and fires what falls due; `restart` starts a new
server on the same Redis state and the same clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from cim_router._pb import router_pb2 as pb
from cim_router.domain.policy import Policy
from cim_router.tenant.clock import ManualClock
from tests.redis_server import drop_prefix
from tests.service.conftest import fast_policy, start_server

MONDAY_8 = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.timezone.utc).timestamp()


class Server:
    """A live server on a manual clock; `advance` moves the clock and fires what is due."""

    def __init__(self, policy: Policy | None = None, **kw: Any) -> None:
        self.policy = policy or fast_policy()
        self.kw = kw
        self.clock = ManualClock()
        self.clock.set(MONDAY_8)
        self.running = start_server(self.policy, clock=self.clock, **kw)
        self.client = self.running.client()

    def advance(self, seconds: float) -> None:
        self.clock.set(self.clock() + seconds)
        self.fire()

    def fire(self) -> None:
        tenants = self.running.server.tenants
        self.running.run(tenants.fire_due())

    def restart(self) -> None:
        settings = self.running.settings
        self.running.stop()
        self.running = start_server(self.policy, settings, clock=self.clock, **self.kw)
        self.client = self.running.client()
        self.client.ListQueues(pb.ListQueuesRequest())  # loads the tenant
        self.fire()


def manual_server(policy: Policy | None = None) -> Iterator[Server]:
    """A fixture body: a Server, stopped and its Redis keys dropped afterwards."""
    s = Server(policy)
    try:
        yield s
    finally:
        s.running.stop()
        drop_prefix(s.running.settings.prefix)
