"""A chat platform's agent desktop on cim-router: the desktop pulls its next chat with
Assign until it holds its chat capacity (3), works them (notes in the context) and
completes them.

    python clients/python/chat_platform.py --target localhost:50051 --chats 5

Runs in a tenant of its own (fresh per run unless --tenant is given) and stops by itself.
"""

from __future__ import annotations

import argparse
import sys
import uuid

from cim_router.client import RouterClient, RouterError
from cim_router.client.flags import add_connection_flags, connection_from

CAPACITY = 3


def run(router: RouterClient, agent: str, chats: int) -> None:
    router.upsert_agent(
        agent, skills={"support": 7}, capacity={"chat": CAPACITY}, state="available"
    )
    # The platform's side: customers open chats.
    for k in range(1, chats + 1):
        router.enqueue(
            f"chat-{k}", channel="chat", required={"support": 3}, context={"topic": f"order {k}"}
        )
    print(f"{chats} chats opened")

    # The desktop's side: pull work up to capacity.
    held: list[str] = []
    while len(held) < CAPACITY:
        pulled = router.assign(agent_id=agent, wait=2.0)
        if not pulled.matched:
            break
        held.append(pulled.interaction.id)
        topic = pulled.interaction.context["topic"]
        print(f"{agent} took {pulled.interaction.id} ({topic}) [{len(held)}/{CAPACITY}]")
    more = router.assign(agent_id=agent, wait=0.5)
    print(f"{agent} at capacity: {'matched' if more.matched else 'nothing more'} on a 4th pull")

    for chat in held:
        router.update_context(chat, {"notes": "answered from the knowledge base"})
        router.complete(chat, agent_id=agent, disposition="resolved", csat=5)
        print(f"{agent} completed {chat}")
    stats = router.stats()
    print(f"done: {len(held)} handled, {stats.waiting} still waiting")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", default="localhost:50051")
    p.add_argument("--tenant", default=f"chat-{uuid.uuid4().hex[:8]}")
    p.add_argument("--agent", default="desk-1")
    p.add_argument("--chats", type=int, default=5, help="chats the platform opens")
    add_connection_flags(p)  # --token/--token-file, --ca/--cert/--key
    args = p.parse_args()
    try:
        conn = connection_from(args)
    except ValueError as exc:
        p.error(str(exc))
    print(f"tenant {args.tenant}")
    try:
        with RouterClient(
            args.target, tenant=args.tenant, timeout=10.0, token=conn.token, tls=conn.tls
        ) as router:
            run(router, args.agent, args.chats)
    except RouterError as exc:
        print(f"chat_platform: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
