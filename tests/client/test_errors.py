"""Errors reach callers as RouterError subclasses; tenants are isolated; deadlines hold."""

from __future__ import annotations

import socket
import time

import grpc
import pytest

from cim_router.client import (
    AlreadyExists,
    AsyncRouterClient,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    RouterClient,
    RouterError,
)
from tests.client.conftest import run


def test_each_status_maps_to_its_exception(sync_client: RouterClient) -> None:
    with pytest.raises(NotFound) as not_found:
        sync_client.get_interaction("nope")
    assert not_found.value.code is grpc.StatusCode.NOT_FOUND
    assert "nope" in not_found.value.details

    with pytest.raises(InvalidArgument) as bad:
        sync_client.enqueue("i1", channel="chat", priority=500)
    assert bad.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert bad.value.field == "priority" and "0..100" in bad.value.details

    with pytest.raises(InvalidArgument) as bad_skill:
        sync_client.enqueue("i1", channel="chat", required={"billing": 11})
    assert bad_skill.value.field.startswith("required_skills")

    sync_client.enqueue("i1", channel="chat", priority=10)
    with pytest.raises(AlreadyExists) as exists:
        sync_client.enqueue("i1", channel="chat", priority=20)
    assert exists.value.code is grpc.StatusCode.ALREADY_EXISTS

    with pytest.raises(FailedPrecondition) as state:
        sync_client.complete("i1")
    assert state.value.code is grpc.StatusCode.FAILED_PRECONDITION
    assert str(state.value).startswith("FAILED_PRECONDITION: ")
    assert all(isinstance(e.value, RouterError) for e in (not_found, bad, exists, state))


def test_async_errors_are_the_same_types(target: str) -> None:
    async def scenario() -> None:
        async with AsyncRouterClient(target) as router:
            with pytest.raises(NotFound):
                await router.get_agent("ghost")
            with pytest.raises(InvalidArgument) as bad:
                await router.complete("i1", csat=9)
            assert bad.value.field == "csat"

    run(scenario())


def test_names_are_checked_before_sending(sync_client: RouterClient) -> None:
    with pytest.raises(ValueError, match="unknown channel: 'fax'"):
        sync_client.enqueue("i1", channel="fax")
    with pytest.raises(TypeError, match="exactly one"):
        sync_client.assign(agent_id="a", interaction_id="i")
    with pytest.raises(TypeError, match="exactly one"):
        sync_client.transfer("i1", agent_id="a", queue=True)


def test_tenants_never_see_each_other(target: str) -> None:
    with (
        RouterClient(target, tenant="acme") as acme,
        RouterClient(target, tenant="globex") as globex,
        RouterClient(target) as default,
    ):
        acme.upsert_agent("ann", state="available")
        acme.enqueue("chat-1", channel="chat", context={"secret": "acme only"})
        assert dict(acme.get_interaction("chat-1").context) == {"secret": "acme only"}
        for other in (globex, default):
            with pytest.raises(NotFound):
                other.get_interaction("chat-1")
            with pytest.raises(NotFound):
                other.get_agent("ann")
            assert other.list_agents() == []
        globex.enqueue("chat-1", channel="chat", priority=90)
        assert acme.get_interaction("chat-1").priority == 0
        assert globex.stats().waiting == 1 and acme.stats().waiting == 0


def test_default_and_per_call_deadlines() -> None:
    # A listener that never answers the HTTP/2 handshake: every call waits for its deadline.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        with RouterClient(address, timeout=0.3) as router:
            start = time.monotonic()
            with pytest.raises(DeadlineExceeded) as late:
                router.stats()
            assert 0.25 <= time.monotonic() - start < 1.5
            assert late.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
            assert late.value.attempts == 1  # a deadline is not retried
            start = time.monotonic()
            with pytest.raises(DeadlineExceeded):
                router.get_agent("a", timeout=0.05)
            assert time.monotonic() - start < 0.25


def test_waiting_assign_ends_at_its_deadline_and_watch_at_its_timeout(target: str) -> None:
    with RouterClient(target, timeout=5.0) as router:
        router.upsert_agent("desk", state="available")
        start = time.monotonic()
        r = router.assign(agent_id="desk", wait=0.3)
        took = time.monotonic() - start
        assert not r.matched and 0.2 <= took < 2.0
        start = time.monotonic()
        assert list(router.watch(["desk"], timeout=0.3)) == []
        assert 0.2 <= time.monotonic() - start < 2.0
