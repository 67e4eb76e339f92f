"""kill -9 of a server process while sessions drive enqueue, accept and complete through it,
then a restart on the same Redis: nothing a session acknowledged is lost or doubled, no
agent is over capacity, no offer is stuck (the crash suite's checks). Then a graceful stop
mid-session: each call read is answered before the stream ends."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from cim_router._pb import router_pb2 as pb
from cim_router.store import RedisSettings
from tests.redis_server import drop_prefix, redis_url, unique_prefix
from tests.service.session_support import StreamEnded, SyncSession
from tests.store.process import ServerProcess, start
from tests.store.test_crash import AGENTS, CHAT_CAPACITY, Acks, check


@pytest.fixture
def prefix() -> Iterator[str]:
    p = unique_prefix()
    yield p
    drop_prefix(p)


def drive(server: ServerProcess, acks: Acks, worker: int, stop: threading.Event) -> None:
    """One session: its agent subscribed; enqueue chats (several in flight), accept what is
    offered to the agent, complete most; record every acknowledged step."""
    agent_id = AGENTS[worker]
    s = SyncSession(server.client().stub, (("x-cim-tenant", "default"),), timeout=60)
    handled = 0
    n = 0
    try:
        s.ok(subscribe=pb.WatchAssignmentsRequest(agent_ids=[agent_id]))
        while not stop.is_set():
            batch = []
            for _ in range(4):
                n += 1
                iid = f"s{worker}-{n}-{random.randrange(10**9)}"
                req = pb.EnqueueRequest(interaction_id=iid, channel=pb.CHANNEL_CHAT)
                batch.append((iid, s.send(request_id=f"r-{iid}", enqueue=req)))
            for iid, cid in batch:
                got = s.answer(cid)
                if got.WhichOneof("result") == "enqueue":
                    at = got.enqueue.interaction.enqueued_at.ToDatetime().timestamp()
                    acks.ack(iid, "enqueued", at)
            offers = [
                e.event.interaction.id
                for e in s.events[handled:]
                if e.event.type == pb.ASSIGNMENT_EVENT_TYPE_OFFERED
            ]
            handled = len(s.events)
            for iid in offers:
                with acks.lock:
                    known = iid in acks.enqueued_at
                if not known:
                    continue
                accept = pb.AcceptRequest(interaction_id=iid, agent_id=agent_id)
                got = s.answer(s.send(request_id=f"a-{iid}", accept=accept))
                if got.WhichOneof("result") != "accept":
                    continue
                acks.ack(iid, "accepted")
                if random.random() < 0.6:
                    done = pb.CompleteRequest(interaction_id=iid)
                    got = s.answer(s.send(request_id=f"c-{iid}", complete=done))
                    if got.WhichOneof("result") == "complete":
                        acks.ack(iid, "completed")
    except StreamEnded:
        return
    finally:
        s.cancel()


def _url(prefix: str) -> str:
    url = RedisSettings.from_url(redis_url()).url
    return f"{url}{'&' if '?' in url else '?'}prefix={prefix}"


KILL_POINTS = {
    "default": (0.3, 0.8),
    "soak": (0.3, 0.8, 1.5, *(round(random.uniform(0.1, 2.5), 2) for _ in range(6))),
}


@pytest.mark.parametrize(
    "kill_points",
    [KILL_POINTS["default"], pytest.param(KILL_POINTS["soak"], marks=pytest.mark.slow)],
    ids=list(KILL_POINTS),
)
def test_kill_minus_nine_mid_session_loses_nothing_acknowledged(
    tmp_path: Path, prefix: str, kill_points: tuple[float, ...]
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("offer_timeout_seconds = 30\n[wrap_up_seconds]\nchat = 0\n")
    url = _url(prefix)
    acks = Acks()
    server = start(url, policy)
    try:
        admin = server.client()
        for agent_id in AGENTS:
            admin.agent(
                agent_id,
                capacity=[pb.ChannelCount(channel=pb.CHANNEL_CHAT, count=CHAT_CAPACITY)],
            )
        for kill_after in kill_points:
            stop = threading.Event()
            workers = [
                threading.Thread(target=drive, args=(server, acks, w, stop))
                for w in range(len(AGENTS))
            ]
            for w in workers:
                w.start()
            time.sleep(kill_after)
            server.kill()
            stop.set()
            for w in workers:
                w.join(10)
            server = start(url, policy)
            check(server, acks, prefix)
        steps = list(acks.step.values())
        assert len(steps) > 30 and "completed" in steps and "enqueued" in steps  # real load
    finally:
        server.kill()


def test_sigterm_mid_session_answers_every_call_it_read(tmp_path: Path, prefix: str) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("offer_timeout_seconds = 30\n")
    url = _url(prefix)
    server = start(url, policy)
    try:
        s = SyncSession(server.client().stub, (("x-cim-tenant", "default"),))
        sent = [
            s.send(
                f"c{k}", enqueue=pb.EnqueueRequest(interaction_id=f"i{k}", channel=pb.CHANNEL_CHAT)
            )
            for k in range(200)
        ]
        s.answer("c0")
        assert server.terminate() == 0
        s.wait(lambda: s.code is not None, what="the stream's end")
        assert s.code == grpc.StatusCode.UNAVAILABLE, (s.code, s.details)
        answered = [c for c in sent if c in s.answers]
        server = start(url, policy)
        client = server.client()
        for cid in answered:  # each answered enqueue is there after the restart
            got = s.answers[cid][0]
            assert got.WhichOneof("result") == "enqueue", got
            assert client.get(got.enqueue.interaction.id).id == got.enqueue.interaction.id
    finally:
        server.kill()
