"""`loadgen --session`: the same run over Session streams adds up as over unary calls, and
its interaction calls did go over the sessions (the router's metrics count them there)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from cim_router.cli import parser
from cim_router.domain.channel import Channel
from cim_router.loadgen import LoadConfig, run_load
from cim_router.loadgen.command import config_from
from tests.loadgen.test_runs import check_consistent
from tests.redis_server import drop_prefix
from tests.service.conftest import Running, fast_policy, start_server

ROUTER = "cim_router.v1.Router/"


@pytest.fixture(scope="module")
def observed() -> Iterator[Running]:
    policy = fast_policy(offer_timeout_seconds=15.0, wrap_up_seconds=dict.fromkeys(Channel, 0.0))
    running = start_server(policy, metrics_port=0)
    try:
        yield running
    finally:
        running.stop()
        drop_prefix(running.settings.prefix)


def sample(running: Running, name: str, **labels: str) -> float:
    observer = running.server.observer
    assert observer is not None
    return observer.registry.get_sample_value(name, labels) or 0.0


def test_a_session_run_adds_up_and_its_calls_go_over_sessions(observed: Running) -> None:
    config = LoadConfig(
        target=observed.server.address,
        rate=50,
        duration=2.0,
        agents=20,
        handle_mean=0.2,
        patience_mean=60,
        grace=5.0,
        seed=11,
        streams=2,
        session=True,
        progress=False,
    )
    r: dict[str, Any] = asyncio.run(run_load(config))
    check_consistent(r)
    assert r["errors"] == {} and r["drained"] and r["unfinished_calls"] == 0
    assert r["enqueued"] == r["sent"] >= 60
    assert r["answered"] >= 0.9 * r["enqueued"] and r["completed"] == r["answered"]
    counted = "cim_router_session_messages_total"
    by_session = {
        m: sample(observed, counted, method=m, code="OK") for m in ("Enqueue", "Accept", "Complete")
    }
    assert by_session == {
        "Enqueue": r["enqueued"],
        "Accept": r["answered"],
        "Complete": r["completed"],
    }
    unary = "cim_router_grpc_requests_total"
    assert sample(observed, unary, method=ROUTER + "Accept", code="OK") == 0
    assert sample(observed, unary, method=ROUTER + "Session", code="OK") == 2  # the streams
    assert sample(observed, counted, method="WatchAssignments", code="OK") == 2


def test_the_flag_reaches_the_config() -> None:
    args = parser().parse_args(["loadgen", "--session", "--streams", "3", "--count", "5"])
    config = config_from(args)
    assert config.session and config.streams == 3
    assert not config_from(parser().parse_args(["loadgen", "--count", "5"])).session
