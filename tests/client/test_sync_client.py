"""RouterClient, the blocking client: the same calls, and one client shared by threads."""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from cim_router._pb import router_pb2 as pb
from cim_router.client import (
    RouterClient,
    assignment_event_name,
    channel_name,
    event_name,
    interaction_state_name,
)


def test_offer_on_the_stream_accept_transfer_complete(sync_client: RouterClient) -> None:
    router = sync_client
    router.upsert_agent("a1", skills={"billing": 7}, state="available")
    seen: list[tuple[str, str]] = []
    opened = threading.Event()

    def watch() -> None:
        with contextlib.closing(router.watch(["a1"], timeout=5)) as stream:
            opened.set()
            for e in stream:
                seen.append((assignment_event_name(e.type), e.interaction.id))
                if e.type == pb.ASSIGNMENT_EVENT_TYPE_RELEASED:
                    return

    watcher = threading.Thread(target=watch)
    watcher.start()
    opened.wait(5)
    time.sleep(0.2)  # the server subscribes the stream
    r = router.enqueue("call-1", channel="voice", required={"billing": 5}, customer_id="c9")
    assert r.interaction.offer.agent_id == "a1" and r.position == 0
    router.accept("call-1", "a1")
    chat = router.transfer("call-1", required={"billing": 6}, mode="cold", channel="chat")
    assert channel_name(chat.channel) == "chat"
    watcher.join(5)
    assert seen[0] == ("offered", "call-1") and seen[-1] == ("released", "call-1")
    # The first agent is excluded after a cold transfer; the chat waits for another.
    waiting = router.get_interaction("call-1")
    assert interaction_state_name(waiting.state) == "queued"
    assert list(waiting.excluded_agent_ids) == ["a1"]
    router.upsert_agent("a2", skills={"billing": 6}, state="available")
    assert router.get_interaction("call-1").offer.agent_id == "a2"
    router.accept("call-1", "a2")
    done = router.complete("call-1", agent_id="a2", csat=4, disposition="sold")
    assert interaction_state_name(done.state) == "wrap_up"
    history = [event_name(e.type) for e in router.get_interaction("call-1").history]
    assert "channel_changed" in history and history[-1] == "wrap_up_started"


def test_one_client_serves_many_threads(sync_client: RouterClient) -> None:
    def work(k: int) -> int:
        sync_client.upsert_agent(f"a{k}", skills={"billing": 5}, state="offline")
        sync_client.enqueue(f"i{k}", channel="email", priority=k)
        return sync_client.get_interaction(f"i{k}").priority

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(work, range(40))) == list(range(40))
    assert len(sync_client.list_agents(state="offline")) == 40
    assert sync_client.stats().waiting == 40
