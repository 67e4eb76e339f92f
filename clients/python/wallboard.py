"""A contact-centre wallboard on cim-router: poll GetStats and print the live figures.

python clients/python/wallboard.py --target localhost:50051 --count 5 --interval 2
"""

from __future__ import annotations

import argparse
import sys
import time

from cim_router._pb import router_pb2 as pb
from cim_router.client import RouterClient, RouterError, agent_state_name, channel_name
from cim_router.client.flags import add_connection_flags, connection_from


def board(tenant: str, s: pb.Stats) -> str:
    agents = "  ".join(f"{agent_state_name(c.state)} {c.count}" for c in s.agents_by_state)
    channels = "  ".join(f"{channel_name(c.channel)} {c.count}" for c in s.waiting_by_channel)
    skills = "  ".join(f"{c.skill} {c.count}" for c in s.waiting_by_skill)
    at = s.at.ToDatetime().strftime("%H:%M:%S")
    return "\n".join(
        [
            f"== wallboard: tenant {tenant} at {at} UTC ==",
            f"waiting {s.waiting}   longest wait {s.longest_wait_seconds:.1f} s"
            f"   service level {s.service_level:.1%}",
            f"offered {s.offered}   answered {s.answered}   abandoned {s.abandoned}"
            f"   completed {s.completed}",
            f"agents: {agents or 'none'}",
            f"waiting by channel: {channels or '-'}",
            f"waiting by skill: {skills or '-'}",
        ]
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", default="localhost:50051")
    p.add_argument("--tenant", default="default")
    p.add_argument("--count", type=int, default=3, help="how many times to poll")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between polls")
    add_connection_flags(p)  # --token/--token-file, --ca/--cert/--key
    args = p.parse_args()
    try:
        conn = connection_from(args)
    except ValueError as exc:
        p.error(str(exc))
    try:
        with RouterClient(
            args.target, tenant=args.tenant, timeout=5.0, token=conn.token, tls=conn.tls
        ) as router:
            for k in range(args.count):
                if k:
                    time.sleep(args.interval)
                print(board(args.tenant, router.stats()), flush=True)
    except RouterError as exc:
        print(f"wallboard: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
