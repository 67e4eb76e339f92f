"""Retries on UNAVAILABLE, with backoff, within the call's deadline; calls that write carry
one request id over all their attempts, so that the router applies them once."""

from __future__ import annotations

import logging
import time
from concurrent import futures

import grpc
import pytest

from cim_router._pb import router_pb2 as pb
from cim_router._pb import router_pb2_grpc
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


class Flaky(router_pb2_grpc.RouterServicer):
    """A Router endpoint that answers UNAVAILABLE twice per call, then OK, and records the
    request ids it was sent."""

    def __init__(self) -> None:
        self.seen: list[str | None] = []

    def _answer(self, context: grpc.ServicerContext) -> None:
        found = dict(context.invocation_metadata()).get("x-cim-request-id")
        self.seen.append(found if isinstance(found, str) else None)
        if len(self.seen) % 3:
            context.abort(grpc.StatusCode.UNAVAILABLE, "store unavailable")

    def Accept(self, request: pb.AcceptRequest, context: grpc.ServicerContext) -> pb.Interaction:
        self._answer(context)
        return pb.Interaction(id=request.interaction_id, agent_id=request.agent_id)

    def Cancel(self, request: pb.CancelRequest, context: grpc.ServicerContext) -> pb.Interaction:
        self._answer(context)
        return pb.Interaction(id=request.interaction_id)


def test_calls_that_write_retry_with_one_request_id_per_call() -> None:
    flaky = Flaky()  # type: ignore[abstract]  # Accept and Cancel only
    server = grpc.server(futures.ThreadPoolExecutor(2))
    router_pb2_grpc.add_RouterServicer_to_server(flaky, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with RouterClient(f"127.0.0.1:{port}", retry=FAST, timeout=5.0) as router:
            assert router.accept("i1", "ann").agent_id == "ann"
            assert router.cancel("i2").id == "i2"
    finally:
        server.stop(None)
    first, second = flaky.seen[:3], flaky.seen[3:]
    assert len(set(first)) == 1 and len(set(second)) == 1  # every attempt the same id
    assert first[0] and second[0] and first[0] != second[0]  # each call its own


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


def test_every_call_retries_while_the_server_is_down() -> None:
    async def scenario() -> None:
        async with AsyncRouterClient(f"127.0.0.1:{free_port()}", retry=FAST) as router:
            for call in (router.accept("i1", "a"), router.get_agent("a")):
                start = time.monotonic()
                with pytest.raises(Unavailable) as err:
                    await call
                assert err.value.attempts == 4 and time.monotonic() - start < 2.0

    run(scenario())
