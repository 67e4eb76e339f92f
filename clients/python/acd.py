"""A telephony ACD on cim-router: queue a call, take the router's offer from
WatchAssignments, answer it, warm-transfer it to a colleague, then hang up (Complete);
a second caller gives up while queued (Cancel).

    python clients/python/acd.py --target localhost:50051 [--token-file KEY] [--ca CA.pem]

Runs in a tenant of its own (fresh per run unless --tenant is given) and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import uuid

from cim_router._pb import router_pb2 as pb
from cim_router.client import AsyncRouterClient, RouterError, interaction_state_name
from cim_router.client.flags import Connection, add_connection_flags, connection_from

OFFERED = pb.ASSIGNMENT_EVENT_TYPE_OFFERED
ASSIGNED = pb.ASSIGNMENT_EVENT_TYPE_ASSIGNED


class Switch:
    """The ACD's view of the router's assignment stream: events by interaction."""

    def __init__(self, router: AsyncRouterClient, agents: list[str]) -> None:
        self.router = router
        self.agents = agents
        self.events: asyncio.Queue[pb.AssignmentEvent] = asyncio.Queue()

    async def listen(self) -> None:
        async with contextlib.aclosing(self.router.watch(self.agents)) as stream:
            async for event in stream:
                await self.events.put(event)

    async def next(self, kind: int, interaction_id: str) -> pb.AssignmentEvent:
        while True:
            event = await self.events.get()
            if event.type == kind and event.interaction.id == interaction_id:
                return event


async def handle_call(router: AsyncRouterClient, switch: Switch, call: str) -> None:
    queued = await router.enqueue(
        call,
        channel="voice",
        required={"billing": 5},
        customer_id="+15550100",
        context={"ani": "+15550100", "ivr_choice": "billing"},
    )
    print(f"{call}: queued ({interaction_state_name(queued.interaction.state)})")
    offer = await switch.next(OFFERED, call)
    first = offer.agent_id
    print(f"{call}: offered to {first}")
    await router.accept(call, first)
    print(f"{call}: answered by {first}")

    colleague = next(a for a in switch.agents if a != first)
    moving = await router.transfer(call, agent_id=colleague, mode="warm", reason="sales question")
    print(f"{call}: warm transfer to {colleague}, {first} stays on until it is answered")
    assert moving.agent_id == first
    await switch.next(OFFERED, call)
    await router.accept(call, colleague)
    await switch.next(ASSIGNED, call)
    print(f"{call}: transferred to {colleague}")

    done = await router.complete(call, agent_id=colleague, disposition="sold", csat=5)
    print(f"{call}: hung up after talking to {colleague} ({interaction_state_name(done.state)})")


async def abandon_call(router: AsyncRouterClient, call: str) -> None:
    # Nobody speaks French here: the caller waits, then gives up.
    queued = await router.enqueue(call, channel="voice", required={"french": 5})
    print(f"{call}: queued at position {queued.position}")
    gone = await router.cancel(call, reason="caller hung up")
    print(f"{call}: caller hung up while queued ({interaction_state_name(gone.state)})")


async def run(target: str, tenant: str, conn: Connection) -> None:
    async with AsyncRouterClient(target, tenant=tenant, token=conn.token, tls=conn.tls) as router:
        agents = ["ann", "bob"]
        await router.upsert_agent("ann", skills={"billing": 8}, state="available")
        await router.upsert_agent("bob", skills={"billing": 6, "sales": 9}, state="available")
        switch = Switch(router, agents)
        listener = asyncio.create_task(switch.listen())
        await asyncio.sleep(0.2)  # let the stream open before the first call
        try:
            await handle_call(router, switch, "call-1")
            await abandon_call(router, "call-2")
            history = await router.get_interaction("call-1")
            print(f"call-1: {len(history.history)} events in its history")
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", default="localhost:50051")
    p.add_argument("--tenant", default=f"acd-{uuid.uuid4().hex[:8]}")
    p.add_argument("--timeout", type=float, default=20.0, help="give up after this many seconds")
    add_connection_flags(p)  # --token/--token-file, --ca/--cert/--key
    args = p.parse_args()
    try:
        conn = connection_from(args)
    except ValueError as exc:
        p.error(str(exc))
    print(f"tenant {args.tenant}")
    try:
        asyncio.run(asyncio.wait_for(run(args.target, args.tenant, conn), args.timeout))
    except RouterError as exc:
        print(f"acd: {exc}", file=sys.stderr)
        return 1
    except TimeoutError:
        print(f"acd: gave up after {args.timeout} s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
