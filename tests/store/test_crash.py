"""kill -9 under load, restart on the same Redis: nothing acknowledged is lost or doubled,
no agent is over capacity, no offer is stuck. Repeated at several kill points."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
import redis

from cim_router._pb import router_pb2 as pb
from cim_router.store import RedisSettings
from cim_router.store.keys import Keys
from tests.redis_server import drop_prefix, redis_url, unique_prefix
from tests.store.process import ServerProcess, start

AGENTS = [f"a{k}" for k in range(6)]
CHAT_CAPACITY = 2
STEPS = ("enqueued", "accepted", "completed")


@dataclass
class Acks:
    """What the server acknowledged, per interaction: its enqueue time, and the furthest
    step acknowledged ("enqueued", "accepted", "completed")."""

    enqueued_at: dict[str, float] = field(default_factory=dict)
    step: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ack(self, interaction_id: str, step: str, at: float = 0.0) -> None:
        # Another worker may take an interaction before its Enqueue's answer is noted (or
        # after that answer was lost with the server): the furthest step stays.
        with self.lock:
            if step == "enqueued":
                self.enqueued_at[interaction_id] = at
            now = self.step.get(interaction_id, "enqueued")
            self.step[interaction_id] = max(now, step, key=STEPS.index)


@pytest.fixture
def prefix() -> Iterator[str]:
    p = unique_prefix()
    yield p
    drop_prefix(p)


def drive(server: ServerProcess, acks: Acks, worker: int, stop: threading.Event) -> None:
    """One client: enqueue chats, pull them as its agent, complete them; record every
    acknowledged step. Errors (the server dies under it) end the loop."""
    client = server.client()
    agent_id = AGENTS[worker]
    n = 0
    try:
        while not stop.is_set():
            n += 1
            iid = f"w{worker}-{n}-{random.randrange(10**9)}"
            req = pb.EnqueueRequest(
                interaction_id=iid, channel=pb.CHANNEL_CHAT, priority=random.randint(0, 100)
            )
            r = client.Enqueue(req, timeout=2)
            acks.ack(iid, "enqueued", r.interaction.enqueued_at.ToDatetime().timestamp())
            got = client.Assign(pb.AssignRequest(agent_id=agent_id), timeout=2)
            if got.matched:
                acks.ack(got.interaction.id, "accepted")
                if random.random() < 0.6:
                    client.Complete(
                        pb.CompleteRequest(interaction_id=got.interaction.id), timeout=2
                    )
                    acks.ack(got.interaction.id, "completed")
    except grpc.RpcError:
        return


def check(server: ServerProcess, acks: Acks, prefix: str) -> None:
    client = server.client()
    r = redis.Redis.from_url(redis_url())
    keys = Keys(prefix)
    open_ids = {str(i, "utf-8") for i in r.smembers(keys.open("default"))}  # type: ignore[arg-type]
    for iid, step in acks.step.items():
        got = client.get(iid)  # NOT_FOUND would fail here: an acknowledged enqueue lost
        if iid in acks.enqueued_at:  # its Enqueue's answer reached the client
            assert abs(got.enqueued_at.ToDatetime().timestamp() - acks.enqueued_at[iid]) < 1e-3
        state = got.state
        if step == "completed":
            assert state in (pb.INTERACTION_STATE_WRAP_UP, pb.INTERACTION_STATE_COMPLETED), iid
        elif step == "accepted":
            assert state in (
                pb.INTERACTION_STATE_ASSIGNED,
                pb.INTERACTION_STATE_WRAP_UP,
                pb.INTERACTION_STATE_COMPLETED,
            ), iid
        if state == pb.INTERACTION_STATE_OFFERED:  # re-offered after the restart, not stuck
            assert got.offer.expires_at.ToDatetime().timestamp() > time.time() - 1
        assert (iid in open_ids) == (state not in (pb.INTERACTION_STATE_COMPLETED,)), iid
        enqueued = [e for e in got.history if e.type == pb.EVENT_TYPE_ENQUEUED]
        assert len(enqueued) == 1, f"{iid} enqueued {len(enqueued)} times"
    held: dict[str, int] = {}
    for iid in open_ids:
        got = client.get(iid)
        if got.state == pb.INTERACTION_STATE_ASSIGNED:
            held[got.agent_id] = held.get(got.agent_id, 0) + 1
        if got.offer.agent_id:
            held[got.offer.agent_id] = held.get(got.offer.agent_id, 0) + 1
    for agent_id in AGENTS:
        agent = client.get_agent(agent_id)
        load = sum(c.count for c in agent.load)
        assert load <= CHAT_CAPACITY, f"{agent_id} over capacity: {load}"
        assert load == held.get(agent_id, 0), f"{agent_id} load {load} != held"
    r.close()


KILL_POINTS = {
    "default": (0.3, 1.0),
    "soak": tuple(round(random.uniform(0.1, 2.0), 2) for _ in range(12)),
}


@pytest.mark.parametrize(
    "kill_points",
    [KILL_POINTS["default"], pytest.param(KILL_POINTS["soak"], marks=pytest.mark.slow)],
    ids=list(KILL_POINTS),
)
def test_kill_minus_nine_under_load_loses_nothing_acknowledged(
    tmp_path: Path, prefix: str, kill_points: tuple[float, ...]
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("offer_timeout_seconds = 30\n[wrap_up_seconds]\nchat = 0\n")
    url = RedisSettings.from_url(redis_url()).url
    url = f"{url}{'&' if '?' in url else '?'}prefix={prefix}"
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
