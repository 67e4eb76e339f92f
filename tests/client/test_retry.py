"""Retries on UNAVAILABLE: safe calls only, with backoff, within the call's deadline."""

from __future__ import annotations

import logging
import time

import grpc
import pytest

from cim_router.client import AsyncRouterClient, Retry, RouterClient, Unavailable
from cim_router.client.retry import Attempts
from tests.client.conftest import LateServer, free_port, run

FAST = Retry(attempts=4, initial_backoff=0.02, max_backoff=0.1, jitter=0.5)


def test_backoff_grows_exponentially_within_its_jitter_and_cap() -> None:
    retry = Retry(attempts=10, initial_backoff=0.1, max_backoff=1.0, multiplier=2.0, jitter=0.5)
    for n, base in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)]:
        delays = [retry.backoff(n) for _ in range(200)]
        assert base * 0.5 <= min(delays) and max(delays) <= base * 1.5
        assert max(delays) - min(delays) > base * 0.3  # jittered, not constant
    with pytest.raises(ValueError):
        Retry(attempts=0)


def test_no_retry_past_the_deadline() -> None:
    attempts = Attempts(Retry(attempts=10, initial_backoff=1.0, jitter=0.0), timeout=0.5)
    attempts.timeout()
    assert attempts.retry_after(grpc.StatusCode.UNAVAILABLE) is None
    assert attempts.count == 1
    generous = Attempts(Retry(attempts=2, initial_backoff=0.01), timeout=5.0)
    generous.timeout()
    assert generous.retry_after(grpc.StatusCode.INTERNAL) is None
    delay = generous.retry_after(grpc.StatusCode.UNAVAILABLE)
    assert delay is not None and delay < 0.02
    generous.timeout()
    assert generous.retry_after(grpc.StatusCode.UNAVAILABLE) is None  # attempts used up


def test_idempotent_calls_retry_then_raise_unavailable(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="cim_router.client")
    closed = f"127.0.0.1:{free_port()}"
    with RouterClient(closed, retry=FAST, timeout=5.0) as router:
        for call in (
            lambda: router.get_agent("a"),
            lambda: router.list_agents(),
            lambda: router.enqueue("i1", channel="chat"),
            lambda: router.upsert_agent("a"),
            lambda: router.set_agent_state("a", "available"),
            lambda: router.get_interaction("i1"),
            lambda: router.explain("i1"),
            lambda: router.stats(),
        ):
            with pytest.raises(Unavailable) as err:
                call()
            assert err.value.attempts == 4
    retries = [r for r in caplog.records if "UNAVAILABLE, retry" in r.getMessage()]
    assert len(retries) == 8 * 3


def test_unsafe_calls_are_sent_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="cim_router.client")
    closed = f"127.0.0.1:{free_port()}"
    with RouterClient(closed, retry=FAST, timeout=5.0) as router:
        for call in (
            lambda: router.accept("i1", "a"),
            lambda: router.reject("i1", "a"),
            lambda: router.complete("i1"),
            lambda: router.cancel("i1"),
            lambda: router.transfer("i1", queue=True),
            lambda: router.escalate("i1"),
            lambda: router.assign(agent_id="a"),
            lambda: router.update_context("i1", {"k": 1}),
        ):
            with pytest.raises(Unavailable) as err:
                call()
            assert err.value.attempts == 1
    assert not [r for r in caplog.records if "UNAVAILABLE, retry" in r.getMessage()]


def test_a_retried_call_reaches_a_server_that_starts_late() -> None:
    port = free_port()
    late = LateServer(port, delay=0.4)
    try:
        patient = Retry(attempts=30, initial_backoff=0.05, max_backoff=0.2)

        async def scenario() -> float:
            async with AsyncRouterClient(f"127.0.0.1:{port}", retry=patient) as router:
                start = time.monotonic()
                response = await router.upsert_agent("ann", state="available")
                assert response.id == "ann"
                return time.monotonic() - start

        assert run(scenario()) >= 0.3  # it waited for the server, retrying
        with RouterClient(f"127.0.0.1:{port}", retry=Retry(attempts=1)) as router:
            assert [a.id for a in router.list_agents()] == ["ann"]
    finally:
        late.stop()


def test_an_unsafe_call_fails_fast_while_the_server_is_down() -> None:
    async def scenario() -> None:
        async with AsyncRouterClient(f"127.0.0.1:{free_port()}", retry=FAST) as router:
            start = time.monotonic()
            with pytest.raises(Unavailable) as err:
                await router.accept("i1", "a")
            assert err.value.attempts == 1 and time.monotonic() - start < 2.0
            with pytest.raises(Unavailable) as err:
                await router.get_agent("a")
            assert err.value.attempts == 4

    run(scenario())
