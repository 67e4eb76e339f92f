"""Router CPU per interaction life through a Session stream against through unary calls,
side by side in one run.

`cim-router serve` runs as a child process on the test Redis (wrap-up 0, offers open
longer than the run), as in test_bench_e2e_latency.py. A life is Enqueue, the OFFERED
event, Accept, Complete. The driver (this process, grpc.aio) keeps `IN_FLIGHT` lives going
at once over `AGENTS` agents (one chat each), in one of two modes:
- unary: Enqueue, Accept and Complete as unary calls, the offer on a WatchAssignments
  stream of every agent;
- session: all of it on one Session stream that subscribes to every agent.
The same driver runs both modes against the transport floor too: the no-op grpc.aio server
of the same service (`bench/noop_server.py`, which answers at once and puts a life's three
events on the watching stream). Rounds alternate between the servers and the modes, each
round on a tenant of its own; the figure is the server's CPU time (user + system, from
/proc) over the round's lives, median of the rounds. Bars: session <= 0.6 ms per life;
router over floor <= 1.5x (unary calls; the session's ratio is shown too).

By default (the test suite) a short check: 100 lives a round, one round each, no bar.
`CIM_BENCH_FULL=1` runs the measurement (about three minutes):

    CIM_BENCH_FULL=1 .venv/bin/pytest bench/test_bench_session.py --benchmark-enable -s
"""

from __future__ import annotations

import asyncio
import os
import statistics
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc

from bench.router_process import cpu_seconds, floor, serving
from cim_router._pb import router_pb2 as pb
from cim_router._pb import router_pb2_grpc
from cim_router.client import AsyncRouterClient, Retry
from cim_router.client.aio_session import AsyncSession
from cim_router.client.names import ChannelLike

FULL = os.environ.get("CIM_BENCH_FULL") == "1"
AGENTS = 200
IN_FLIGHT = 32
LIVES = 3_000 if FULL else 100
ROUNDS = 5 if FULL else 1  # of each mode
BAR_MS = 0.6
FLOOR_BAR = 1.5  # router CPU per life over the no-op server's, unary calls

Life = Callable[[str], Awaitable[None]]


class Offers:
    """Futures of the offers awaited, by interaction id, resolved from an event stream."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[str]] = {}

    def expect(self, interaction_id: str) -> asyncio.Future[str]:
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.waiting[interaction_id] = future
        return future

    async def follow(self, events: AsyncIterator[pb.AssignmentEvent]) -> None:
        async for event in events:
            if event.type == pb.ASSIGNMENT_EVENT_TYPE_OFFERED:
                future = self.waiting.pop(event.interaction.id, None)
                if future is not None and not future.done():
                    future.set_result(event.agent_id)


async def _agents(client: AsyncRouterClient) -> list[str]:
    ids = [f"a{k}" for k in range(AGENTS)]
    only_chat: dict[ChannelLike, int] = {
        "chat": 1,
        "voice": 0,
        "video": 0,
        "email": 0,
        "sms": 0,
        "social": 0,
    }
    await asyncio.gather(
        *(client.upsert_agent(a, capacity=only_chat, state="available") for a in ids)
    )
    return ids


async def _lives(life: Life, run: str) -> None:
    counter = iter(range(LIVES))

    async def worker() -> None:
        for n in counter:
            await life(f"{run}-{n}")

    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))


async def _round(target: str, pid: int, mode: str) -> float:
    """One round on a fresh tenant: the server's CPU ms per life."""
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    metadata = (("x-cim-tenant", tenant),)
    client = AsyncRouterClient(target, tenant=tenant, retry=Retry(attempts=1), timeout=30)
    channel = grpc.aio.insecure_channel(target)  # the unary calls' own
    offers = Offers()
    try:
        agents = await _agents(client)
        if mode == "session":
            session = client.session()
            await session.subscribe(agents)
            follower = asyncio.create_task(offers.follow(session.events()))
            life = _session_life(session, offers)
        else:
            follower = asyncio.create_task(offers.follow(client.watch(agents)))
            await _probe(client, offers, agents)
            life = _unary_life(router_pb2_grpc.RouterStub(channel), metadata, offers)
        await life("warm-1")
        before = cpu_seconds(pid)
        await _lives(life, tenant)
        after = cpu_seconds(pid)
        follower.cancel()
        if mode == "session":
            await session.close()
    finally:
        await client.close()
        await channel.close(None)
    assert before is not None and after is not None, "no /proc: no CPU figure"
    return (after - before) * 1e3 / LIVES


async def _probe(client: AsyncRouterClient, offers: Offers, agents: list[str]) -> None:
    """Wait until the WatchAssignments stream is subscribed: an offer reaches it."""
    for attempt in range(100):
        probe = f"probe-{attempt}"
        seen = offers.expect(probe)
        await client.enqueue(probe, channel="chat")
        try:
            agent = await asyncio.wait_for(asyncio.shield(seen), 0.2)
        except asyncio.TimeoutError:
            await client.cancel(probe)
            continue
        await client.accept(probe, agent)
        await client.complete(probe, agent_id=agent)
        return
    raise RuntimeError("the WatchAssignments stream did not start")


def _unary_life(stub: Any, metadata: Any, offers: Offers) -> Life:
    async def life(iid: str) -> None:
        offered = offers.expect(iid)
        rid = (("x-cim-request-id", f"e-{iid}"),)
        await stub.Enqueue(
            pb.EnqueueRequest(interaction_id=iid, channel=pb.CHANNEL_CHAT),
            metadata=metadata + rid,
            timeout=30,
        )
        agent = await offered
        rid = (("x-cim-request-id", f"a-{iid}"),)
        await stub.Accept(
            pb.AcceptRequest(interaction_id=iid, agent_id=agent),
            metadata=metadata + rid,
            timeout=30,
        )
        rid = (("x-cim-request-id", f"c-{iid}"),)
        await stub.Complete(
            pb.CompleteRequest(interaction_id=iid, agent_id=agent),
            metadata=metadata + rid,
            timeout=30,
        )

    return life


def _session_life(session: AsyncSession, offers: Offers) -> Life:
    async def life(iid: str) -> None:
        offered = offers.expect(iid)
        await session.enqueue(iid, channel="chat", request_id=f"e-{iid}")
        agent = await offered
        await session.accept(iid, agent, request_id=f"a-{iid}")
        await session.complete(iid, agent_id=agent, request_id=f"c-{iid}")

    return life


MODES = ("unary", "session")


def measure(tmp: Path) -> dict[str, Any]:
    per_life: dict[str, list[float]] = {f"{w} {m}": [] for w in ("router", "floor") for m in MODES}
    with serving(tmp) as server, floor() as noop:
        for _ in range(ROUNDS):
            for where, target in (("router", server), ("floor", noop)):
                for mode in MODES:
                    ms = asyncio.run(_round(target.address, target.pid, mode))
                    per_life[f"{where} {mode}"].append(ms)
    med = {key: statistics.median(rounds) for key, rounds in per_life.items()}
    figures: dict[str, Any] = {
        "lives_per_round": LIVES,
        "rounds": ROUNDS,
        "in_flight": IN_FLIGHT,
        "agents": AGENTS,
        "bar_ms": BAR_MS,
        "floor_bar": FLOOR_BAR,
    }
    for key, rounds in per_life.items():
        name = key.replace(" ", "_")
        figures[f"{name}_cpu_ms_per_life"] = round(med[key], 3)
        figures[f"{name}_rounds_ms"] = [round(x, 3) for x in rounds]
    for mode in MODES:
        figures[f"{mode}_vs_floor"] = round(med[f"router {mode}"] / med[f"floor {mode}"], 2)
    figures["session_vs_unary"] = round(med["router session"] / med["router unary"], 3)
    figures["bar_met"] = med["router session"] <= BAR_MS
    figures["floor_bar_met"] = figures["unary_vs_floor"] <= FLOOR_BAR
    return figures


def test_router_cpu_per_life_session_vs_unary(benchmark: Any, tmp_path: Path) -> None:
    benchmark.group = "router CPU per interaction life: Session vs unary, and the floor"
    figures = benchmark.pedantic(measure, args=(tmp_path,), rounds=1, iterations=1)
    benchmark.extra_info.update(figures)
    print(f"\nCPU per life ({LIVES} lives x {ROUNDS} rounds, {IN_FLIGHT} in flight), ms:")
    for where in ("router", "floor"):
        for mode in MODES:
            name = f"{where}_{mode}"
            print(
                f"  {where} {mode}: {figures[f'{name}_cpu_ms_per_life']:.3f} "
                f"{figures[f'{name}_rounds_ms']}"
            )
    print(
        f"  router / floor: unary {figures['unary_vs_floor']}x, session "
        f"{figures['session_vs_floor']}x (bar {FLOOR_BAR}x: "
        f"{'met' if figures['floor_bar_met'] else 'not met'}); session "
        f"{figures['session_vs_unary']:.0%} of unary; session bar {BAR_MS} ms: "
        f"{'met' if figures['bar_met'] else 'not met'}"
    )
    for where in ("router", "floor"):
        for mode in MODES:
            assert figures[f"{where}_{mode}_cpu_ms_per_life"] > 0
    if FULL:
        assert figures["bar_met"], f"session {figures['router_session_cpu_ms_per_life']} ms"
        assert figures["floor_bar_met"], f"unary {figures['unary_vs_floor']}x its floor"
