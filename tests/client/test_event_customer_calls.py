"""The clients' watch_events and get_customer, and `cim-router events` and `customer ID`,
against a live router."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from cim_router._pb import router_pb2 as pb
from cim_router.client import AsyncRouterClient, NotFound, OutOfRange, RouterClient
from tests.client.conftest import run
from tests.client.test_cli import Cli, cli, rows

__all__ = ["cli"]  # the fixture, shared


def test_sync_client_follows_and_resumes_the_stream_and_reads_a_customer(
    sync_client: RouterClient,
) -> None:
    router = sync_client
    router.upsert_agent("ann", state="available")
    router.enqueue("c1", channel="chat", customer_id="cu")
    router.accept("c1", "ann")
    router.enqueue("e1", channel="email", customer_id="cu")
    with contextlib.closing(router.watch_events(["enqueued"], from_start=True)) as stream:
        first = next(stream)
    assert (first.event.interaction_id, first.event.type) == ("c1", pb.EVENT_TYPE_ENQUEUED)
    with contextlib.closing(router.watch_events(["enqueued"], after_id=first.id)) as stream:
        assert next(stream).event.interaction_id == "e1"
    with pytest.raises(OutOfRange):  # "1-0" is before every entry this stream kept
        next(router.watch_events(after_id="1-0"))
    found = router.get_customer("cu", page_size=1)
    assert [i.id for i in found.interactions] == ["e1"] and found.next_page_token
    assert found.last_agent_id == "ann" and found.totals.contacts == 2
    assert [i.id for i in found.open_interactions] == ["e1", "c1"]
    nxt = router.get_customer("cu", page_token=found.next_page_token)
    assert [i.id for i in nxt.interactions] == ["c1"]
    with pytest.raises(NotFound):
        router.get_customer("nobody")


def test_async_client_follows_the_stream_and_reads_a_customer(target: str) -> None:
    async def scenario() -> None:
        async with AsyncRouterClient(target, timeout=5.0) as router:
            await router.enqueue("v1", channel="voice", customer_id="cu")
            stream = router.watch_events(from_start=True, timeout=5.0)
            async with contextlib.aclosing(stream):
                got = await anext(stream)
            assert got.event.interaction_id == "v1" and got.id
            found = await router.get_customer("cu")
            assert [i.channel for i in found.interactions] == [pb.CHANNEL_VOICE]
            with pytest.raises(NotFound):
                await router.get_customer("nobody")

    run(scenario())


def test_cli_events_and_customer(cli: Cli) -> None:
    cli("enqueue", "chat-1", "--channel", "chat", "--customer", "cu")
    cli("enqueue", "mail-1", "--channel", "email", "--customer", "cu")
    cli("cancel", "mail-1", "--reason", "sent twice")
    out = cli("events", "--from-start", "--type", "enqueued", "--type", "cancelled", "--count", "3")
    lines = rows(out)
    assert [line[2] for line in lines] == ["enqueued", "enqueued", "cancelled"]
    assert [line[3] for line in lines] == ["chat-1", "mail-1", "mail-1"]
    assert 'reason="sent' in out
    first_id = lines[0][0]
    data = cli.json("events", "--type", "cancelled", "--after", first_id, "--count", "1")
    listed: Any = data["events"]
    assert [e["event"]["type"] for e in listed] == ["EVENT_TYPE_CANCELLED"]
    shown = cli("customer", "cu")
    assert ["contacts:", "2"] in rows(shown) and "INTERACTION" in shown
    table = shown.split("\n\n")[1].splitlines()
    assert [r.split()[0] for r in table[1:]] == ["mail-1", "chat-1"]
    err = cli("customer", "nobody", code=1)
    assert "NOT_FOUND" in err
    assert cli("events", "--after", "nope", code=1).startswith("cim-router: INVALID_ARGUMENT")
