"""The Redis store on its own: the codec, the key schema, group commit, the create guard
and fencing, against a real Redis."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib

from cim_router.domain.agent import Agent, AgentState
from cim_router.domain.channel import Channel
from cim_router.domain.interaction import Interaction, InteractionState, SkillRequirement
from cim_router.domain.queues import Queue
from cim_router.routing.explain import Candidate, Explanation
from cim_router.store import RedisSettings, RedisStore, codec
from cim_router.store.embedded import find_redis_server
from cim_router.store.keys import Keys
from cim_router.store.ops import TALLY_SECONDS
from cim_router.tenant.errors import Unavailable
from cim_router.tenant.records import (
    AgentRecord,
    CustomerRecord,
    Erasure,
    Event,
    EventType,
    InteractionRecord,
    Offer,
    PendingTransfer,
    TransferMode,
    Transition,
)
from tests.redis_server import drop_prefix, redis_url, unique_prefix


def full_interaction() -> InteractionRecord:
    i = Interaction(
        "chat:1{x}",
        Channel.CHAT,
        tenant="t",
        customer_id="c1",
        required=(SkillRequirement("billing", 4),),
        preferred=(SkillRequirement("spanish", 1),),
        priority=40,
        customer_tier="gold",
        sla_seconds=30.0,
        enqueued_at=1000.5,
        escalation_level=1,
        preferred_agent="ann",
        excluded_agents=frozenset({"bo", "cy"}),
        context={"order": "A-1", "items": [1, {"x": None}], "ok": True},
        state=InteractionState.ASSIGNED,
    )
    why = Explanation(
        "chat:1{x}",
        1001.0,
        1,
        55.5,
        10,
        3,
        {"skill": 7},
        Candidate("ann", 1.5, {"skill": 0.8}),
        Candidate("bo", 1.2, {"skill": 0.6}),
    )
    return InteractionRecord(
        i,
        agent_id="ann",
        offer=Offer("dee", Channel.VOICE, 1002.0, 1017.0, transfer=True),
        transfer=PendingTransfer(
            TransferMode.WARM, "dee", Channel.VOICE, (SkillRequirement("tech", 3),), "to voice"
        ),
        linked_interaction_id="chat:0",
        disposition="sold",
        csat=5,
        assigned_at=1001.5,
        answered=True,
        wrap_up_until=0.0,
        request_digest=b"\x01\x02",
        explanation=why,
        arrival=7,
        exclusions={"bo": 1100.0, "cy": 1200.5},
    )


def test_codec_round_trips_every_record() -> None:
    rec = full_interaction()
    assert codec.interaction_in(codec.interaction_out(rec), "t") == rec
    agent = AgentRecord(
        Agent(
            "ann",
            "Ann",
            {"billing": 8},
            3,
            {Channel.CHAT: 4, Channel.VOICE: 1},
            AgentState.NOT_READY,
            "lunch",
            {Channel.CHAT: 2},
            99.0,
            {("", Channel.CHAT): 120.0, ("billing", Channel.VOICE): 300.0},
        ),
        missed_offers=1,
        wrap_up_until=5.0,
    )
    back = codec.agent_in(codec.agent_out(agent))
    assert back.agent.capacity[Channel.CHAT] == 4 and back.agent.capacity[Channel.EMAIL] == 0
    back.agent.capacity = agent.agent.capacity
    assert back == agent
    e = Event(3.5, EventType.TRANSFERRED, "x", Channel.SMS, "ann", "why")
    assert codec.event_in(codec.event_out(e)) == e
    c = CustomerRecord("c1", "x", "ann", 4.5)
    assert codec.customer_in("c1", codec.customer_out(c)) == c


def test_keys_keep_tenants_apart_whatever_their_ids() -> None:
    k = Keys("cim", b"s" * 16)
    assert k.interaction("a", "b}:ix:c") != k.interaction("a}:ix:b", "c")
    for key in (
        k.agents("t"),
        k.open("t"),
        k.interaction("t", "i"),
        k.history("t", "i"),
        k.customer("t", "c"),
        k.counters("t"),
        k.events("t"),
    ):
        assert key.startswith("cim:{t}:")
    assert k.agents("a:b{c}") == "cim:{a%3Ab%7Bc%7D}:agents"


def test_customer_keys_are_named_by_a_keyed_hash_never_the_id() -> None:
    k, other = Keys("cim", b"s" * 16), Keys("cim", b"t" * 16)
    names = (
        k.customer("t", "alice@example.com"),
        k.customer_interactions("t", "alice@example.com"),
    )
    for name in names:
        assert "alice" not in name and name.startswith("cim:{t}:")
    assert k.customer("t", "alice@example.com") != other.customer("t", "alice@example.com")
    assert k.customer("t", "alice@example.com") != k.customer("u", "alice@example.com")
    assert k.customer("t", "alice@example.com") == Keys("x", b"s" * 16).customer(
        "t", "alice@example.com"
    ).replace("x:", "cim:", 1)
    with pytest.raises(RuntimeError):
        Keys("cim").customer("t", "alice@example.com")  # no secret: no customer keys


@pytest.fixture
def settings() -> Iterator[RedisSettings]:
    s = RedisSettings.from_url(redis_url(), prefix=unique_prefix())
    yield s
    drop_prefix(s.prefix)


class Counting:
    """Metrics that count commits: how many round trips carried the writes."""

    def __init__(self) -> None:
        self.commits = 0
        self.errors = 0

    def redis_roundtrip(self, op: str, seconds: float) -> None:
        self.commits += op == "commit"

    def redis_error(self, op: str) -> None:
        self.errors += 1


def agent_transition(agent_id: str) -> Transition:
    return Transition(agents=[AgentRecord(Agent(agent_id, state=AgentState.AVAILABLE))])


@pytest.mark.parametrize("max_batch", [256, 1])
def test_concurrent_writes_share_round_trips_unless_grouping_is_off(
    settings: RedisSettings, max_batch: int
) -> None:
    async def main() -> tuple[int, int]:
        metrics = Counting()
        store = RedisStore(
            RedisSettings.from_url(settings.url, prefix=settings.prefix, max_batch=max_batch),
            metrics,
        )
        await store.start()
        seqs = [store.submit("t", agent_transition(f"a{k}")) for k in range(200)]
        await asyncio.gather(*(store.durable(s) for s in seqs))
        loaded = await store.load("t")
        await store.close()
        return metrics.commits, len(loaded.agents)

    commits, agents = asyncio.run(main())
    assert agents == 200
    if max_batch == 1:
        assert commits == 200
    else:
        assert commits < 10


def test_a_group_commit_is_cut_at_its_op_limit(settings: RedisSettings) -> None:
    async def main() -> tuple[int, int]:
        metrics = Counting()
        cut = RedisSettings.from_url(settings.url, prefix=settings.prefix, max_batch_ops=1000)
        store = RedisStore(cut, metrics)
        await store.start()
        # 20 transitions of 100 agents (one op each): 2,000 ops, at most 1,000 a commit.
        for k in range(20):
            agents = [AgentRecord(Agent(f"a{k}-{n}")) for n in range(100)]
            store.submit("t", Transition(agents=agents))
        await store.durable(store.submitted)
        loaded = await store.load("t")
        await store.close()
        return metrics.commits, len(loaded.agents)

    commits, agents = asyncio.run(main())
    assert agents == 2000
    assert commits >= 2


def test_a_create_guard_on_an_existing_interaction_writes_nothing(
    settings: RedisSettings,
) -> None:
    async def main() -> tuple[bool, int]:
        store = RedisStore(settings)
        await store.start()
        rec = full_interaction()
        await store.durable(store.submit("t", Transition(interactions=[rec]), create=rec.id))
        clash = store.submit(
            "t", Transition(interactions=[rec], agents=agent_transition("x").agents), create=rec.id
        )
        lost = False
        try:
            await store.durable(clash)
        except Unavailable:
            lost = True
        await asyncio.sleep(0.5)  # the store pings, finds Redis, and is healthy again
        snapshot = await store.load("t")
        await store.close()
        return lost, len(snapshot.agents)

    lost, agents = asyncio.run(main())
    assert lost and agents == 0


def test_a_second_server_fences_the_first(settings: RedisSettings) -> None:
    async def main() -> tuple[bool, bool, int]:
        first, second = RedisStore(settings), RedisStore(settings)
        await first.start()
        await second.start()  # takes over: a newer epoch
        refused = False
        try:
            await first.durable(first.submit("t", agent_transition("from-first")))
        except Unavailable:
            refused = True
        await asyncio.sleep(0.6)
        healthy = first.healthy
        await second.durable(second.submit("t", agent_transition("from-second")))
        agents = len((await second.load("t")).agents)
        await first.close()
        await second.close()
        return refused, healthy, agents

    refused, first_healthy, agents = asyncio.run(main())
    assert refused and not first_healthy and agents == 1


def test_settings_from_url_read_our_fields_and_leave_redis_its_own() -> None:
    s = RedisSettings.from_url(
        "rediss://user:pw@host:6380/2?pool_size=4&command_timeout=0.5&ssl_cert_reqs=none"
    )
    assert (s.pool_size, s.command_timeout) == (4, 0.5)
    assert s.client_url() == "rediss://user:pw@host:6380/2?ssl_cert_reqs=none"
    with pytest.raises(ValueError, match="pool_size"):
        RedisSettings.from_url("redis://h/0?pool_size=many")
    assert RedisSettings.from_url("unix:///tmp/redis.sock?db=1").client_url().startswith("unix://")


def test_a_unix_socket_url_reaches_redis(tmp_path: Path) -> None:
    """`unix://` URLs work end to end: a Redis listening on a socket file only."""
    sock = tmp_path / "redis.sock"
    args = ["--port", "0", "--unixsocket", str(sock), "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(
        [find_redis_server(), *args, "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.02)

        async def main() -> int:
            store = RedisStore(RedisSettings.from_url(f"unix://{sock}?db=0"))
            await store.start()
            await store.durable(store.submit("t", agent_transition("over-a-socket")))
            agents = len((await store.load("t")).agents)
            await store.close()
            return agents

        assert asyncio.run(main()) == 1
    finally:
        proc.terminate()
        proc.wait(10)


def test_forget_deletes_a_customer_record_an_older_version_named_by_the_id(
    settings: RedisSettings,
) -> None:
    async def body() -> None:
        store = RedisStore(settings)
        await store.start()
        try:
            legacy = store.keys.legacy_customer("t", "alice")
            assert legacy.endswith(":cust:alice")
            await store.redis.set(legacy, b'["i0","ann",1.0]', ex=60)
            assert (await store.read_customer("t", "alice")).known
            seq = store.submit("t", Transition(erasures=[Erasure("alice", ())]))
            await store.durable(seq)
            assert await store.redis.exists(legacy) == 0
            assert not (await store.read_customer("t", "alice")).known
        finally:
            await store.close()

    asyncio.run(body())


def test_a_tally_bucket_expires_after_two_days() -> None:
    """Redis keeps a minute's tallies two days from their last write, then drops them."""

    async def body() -> None:
        settings = RedisSettings.from_url(redis_url(), prefix=unique_prefix())
        store = RedisStore(settings)
        await store.start()
        try:
            t = Transition(new_tenant=True)
            t.tally(1000, "sales|voice|offered", 1)
            await store.durable(store.submit("t", t))
            ttl = await store.redis.ttl(store.keys.tallies("t", 1000))
            assert TALLY_SECONDS - 5 <= ttl <= TALLY_SECONDS == 2 * 24 * 3600
        finally:
            await store.close()
            drop_prefix(settings.prefix)

    asyncio.run(body())


def test_an_undecodable_queue_is_quarantined_and_the_others_load() -> None:
    settings = RedisSettings.from_url(redis_url(), prefix=unique_prefix())
    keys = Keys(settings.prefix)
    raw = redis_lib.Redis.from_url(redis_url())
    try:
        raw.hset(keys.queues("t"), "good", codec.queue_out(Queue("good", priority=3)))
        raw.hset(keys.queues("t"), "junk", b"[1, 2")
        raw.hset(keys.queues("t"), "bad-hours", b'{"hours": {"time_zone": "Mars/Base"}}')

        async def load() -> list[tuple[str, str]]:
            store = RedisStore(settings)
            await store.start()
            try:
                snap = await store.load("t")
                assert snap.queues == [Queue("good", priority=3)]
                return snap.quarantined
            finally:
                await store.close()

        quarantined = asyncio.run(load())
        assert sorted(k for k, _ in quarantined) == ["queue:bad-hours", "queue:junk"]
    finally:
        raw.close()
        drop_prefix(settings.prefix)


def test_close_ends_whatever_its_tasks_were_doing() -> None:
    """Closing while the store's loops are inside Redis calls (the epoch watch checking
    all the time here) ends them: a cancelled call that comes back as a connection error
    must not keep a loop going, or close (and a server's stop) would wait for ever."""
    settings = RedisSettings.from_url(
        redis_url(), prefix=unique_prefix(), fence_check_seconds=0.0, reconnect_seconds=0.0
    )

    async def body() -> int:
        closed = 0
        for _ in range(60):
            store = RedisStore(settings)
            await store.start()
            await asyncio.sleep(0.002)
            await asyncio.wait_for(store.close(), 10)
            closed += 1
        return closed

    try:
        assert asyncio.run(body()) == 60
    finally:
        drop_prefix(settings.prefix)
