"""Following agents' offers and assignments: what WatchAssignments streams and a Session's
`subscribe` share (the check, the caps, the watcher's lifetime)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from cim_router._pb import router_pb2 as pb
from cim_router.service import convert, responses
from cim_router.service.auth import Principal
from cim_router.service.auth.quotas import no_quota
from cim_router.service.rpc import Context, tenant_of
from cim_router.tenant.watch import Watcher


@dataclass(frozen=True)
class Watching:
    """An open subscription: its watcher, and how its notices go on the wire."""

    watcher: Watcher
    sensitive: frozenset[str]
    principal: Principal

    async def next(self) -> pb.AssignmentEvent | None:
        """The next event; None once the watcher is closed (server stop, backlog, tenant
        deleted)."""
        notice = await self.watcher.next()
        if notice is None:
            return None
        return responses.notice_out(notice, self.sensitive, self.principal)


@contextlib.asynccontextmanager
async def watching(
    servicer: Any, request: pb.WatchAssignmentsRequest, context: Context
) -> AsyncIterator[Watching]:
    """Checked as WatchAssignments, counted against the tenant's `max_watch_streams` and
    the key's watch quota while open. Refusals are raised before anything is held."""
    tenant = tenant_of(context)
    principal = await servicer.access.check("WatchAssignments", request, tenant, context)
    watched = convert.watched_agents_in(request.agent_ids)
    quota = principal.quota
    # The tenant may not exist yet: a desktop may watch before its agent is created.
    with quota.watching() if quota is not None else no_quota():
        async with servicer.tenants.use(tenant) as router:
            limit = servicer.tenants.limits.max_watch_streams
            watcher = router.hub.subscribe(watched, limit=limit)
            try:
                yield Watching(watcher, router.policy.sensitive_context_keys, principal)
            finally:
                router.hub.unsubscribe(watcher)
