"""One real router (a thread, over the test Redis) for the load generator's tests; each run
loads a tenant of its own, so the tests share it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cim_router.domain.channel import Channel
from tests.redis_server import drop_prefix
from tests.service.conftest import fast_policy, start_server


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    # No wrap-up, and offers that outlive the runs: agents answer every offer they see.
    policy = fast_policy(offer_timeout_seconds=15.0, wrap_up_seconds=dict.fromkeys(Channel, 0.0))
    running = start_server(policy)
    try:
        yield running.server.address
    finally:
        running.stop()
        drop_prefix(running.settings.prefix)
