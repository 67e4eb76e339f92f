"""The clients' queue calls against a real server: queues with hours, profiles, Enqueue
into a queue, transfer to a queue, ListInteractions; the async and the sync client alike."""

from __future__ import annotations

import pytest

from cim_router._pb import router_pb2 as pb
from cim_router.client import AsyncRouterClient, InvalidArgument, RouterClient
from tests.client.conftest import run

HOURS = {"time_zone": "Europe/Paris", "mon": ["09:00-17:00"], "exceptions": {"2026-12-25": []}}


def test_sync_client_queues_profiles_enqueue_transfer_and_listing(
    sync_client: RouterClient,
) -> None:
    router = sync_client
    status = router.upsert_queue(
        "billing", channels=["chat"], required={"billing": 3}, priority=5, hours=HOURS
    )
    assert status.queue.hours.time_zone == "Europe/Paris"
    assert [d.day for d in status.queue.hours.weekly] == ["mon"]
    assert status.queue.hours.exceptions[0].date == "2026-12-25"
    assert [s.queue.id for s in router.list_queues()] == ["billing", "default"]
    agent = router.upsert_agent(
        "ann", skills={"billing": 5}, routing_profile={"billing": (8, 0.0)}, state="not_ready"
    )
    assert [(m.queue_id, m.priority) for m in agent.routing_profile] == [("billing", 8)]
    r = router.enqueue("c1", channel="chat", queue_id="billing")
    assert r.interaction.queue_id == "billing" and r.interaction.priority == 5
    page = router.list_interactions(queue_id="billing", state="queued")
    assert [i.id for i in page.interactions] == ["c1"]
    assert router.get_queue("billing").waiting == 1
    router.set_agent_state("ann", "available")
    router.accept("c1", "ann")
    moved = router.transfer("c1", queue="default", mode="cold", to_back=True)
    assert moved.queue_id == "default"
    with pytest.raises(InvalidArgument, match="routing_profile"):
        router.upsert_agent("bob", routing_profile=["nope"])
    router.cancel("c1")
    router.remove_queue("billing")
    assert [s.queue.id for s in router.list_queues()] == ["default"]


def test_async_client_queue_calls(target: str) -> None:
    async def scenario() -> None:
        async with AsyncRouterClient(target) as router:
            await router.upsert_queue("sales", sla_seconds=30, sla_share=0.9, max_size=2)
            got = await router.get_queue("sales")
            assert got.queue.service_level.seconds == 30 and got.queue.max_size == 2
            await router.enqueue("s1", channel="email", queue_id="sales")
            page = await router.list_interactions(channel="email", page_size=1)
            assert [i.id for i in page.interactions] == ["s1"] and not page.next_page_token
            assert [s.queue.id for s in await router.list_queues()] == ["default", "sales"]
            with pytest.raises(InvalidArgument, match=r"queue\.hours\.time_zone"):
                await router.upsert_queue("x", hours={"time_zone": "Mars/Base"})
            assert page.interactions[0].channel == pb.CHANNEL_EMAIL

    run(scenario())
