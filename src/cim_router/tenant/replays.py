"""How a retried call (the same request id) is answered: from the outcome the store kept."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from cim_router.tenant.records import InteractionRecord, RequestOutcome
from cim_router.tenant.router import TenantRouter


def replay_interaction(r: TenantRouter) -> Callable[[RequestOutcome], Awaitable[InteractionRecord]]:
    """A retried call answers with the interaction it acted on, as it is now."""

    async def replay(outcome: RequestOutcome) -> InteractionRecord:
        return (await r.interaction(outcome.entity)).snapshot()

    return replay
