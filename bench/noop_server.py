"""A no-op grpc.aio server of the Router service: the transport's own limit.

    python -m bench.noop_server   # prints "listening on HOST:PORT", serves until killed

Enqueue answers an empty EnqueueResponse at once: no validation, no routing, no Redis.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from cim_router._pb import router_pb2 as pb
from cim_router._pb import router_pb2_grpc


class NoopRouter(router_pb2_grpc.RouterServicer):
    async def Enqueue(self, request: pb.EnqueueRequest, context: Any) -> pb.EnqueueResponse:
        return pb.EnqueueResponse()


async def main() -> None:
    server = grpc.aio.server()
    servicer = NoopRouter()  # type: ignore[abstract]  # Enqueue only; the rest UNIMPLEMENTED
    router_pb2_grpc.add_RouterServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"listening on 127.0.0.1:{port}", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main())
