"""`cim-router serve`: run the gRPC server. Every flag can also come from the environment
as CIM_ROUTER_<FLAG> (e.g. CIM_ROUTER_GRPC_PORT=50051); a flag given wins."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

from cim_router.domain.policy import PolicyError, load_policy
from cim_router.observability.logs import configure_logging

log = logging.getLogger("cim_router")

# flag -> (default, help)
SERVE_FLAGS: dict[str, tuple[str | None, str]] = {
    "host": ("0.0.0.0", "address to listen on"),
    "grpc-port": ("50051", "gRPC port (0 picks a free one)"),
    "metrics-port": ("9464", "Prometheus metrics port"),
    "redis-url": (None, "Redis holding the state (default: a private Redis in --data-dir)"),
    "data-dir": ("./cim-router-data", "directory of the private Redis"),
    "policy": (None, "routing policy TOML file (default: the built-in policy)"),
    "log-level": ("INFO", "DEBUG, INFO, WARNING or ERROR"),
    "log-format": ("json", "json (one object per line) or text"),
    "shutdown-grace": ("10", "seconds in-flight calls get to finish on SIGTERM"),
}


def env_name(flag: str) -> str:
    return "CIM_ROUTER_" + flag.upper().replace("-", "_")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cim-router", description="Contact-centre routing engine")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gRPC server")
    for flag, (default, text) in SERVE_FLAGS.items():
        serve.add_argument(
            f"--{flag}",
            default=os.environ.get(env_name(flag), default),
            help=f"{text} [env {env_name(flag)}]",
        )
    return p


def _number(args: argparse.Namespace, flag: str, kind: type[int] | type[float]) -> float:
    value = getattr(args, flag.replace("-", "_"))
    try:
        return kind(value)
    except ValueError:
        raise SystemExit(f"cim-router: --{flag}: not a number: {value!r}") from None


async def serve(args: argparse.Namespace) -> None:
    from cim_router.service.server import Server

    try:
        policy = load_policy(args.policy)
    except PolicyError as exc:
        raise SystemExit(f"cim-router: {exc}") from None
    if args.redis_url:
        log.warning("--redis-url is not used yet: state is kept in memory")
    server = Server(
        args.host,
        int(_number(args, "grpc-port", int)),
        policy=policy,
        metrics_port=int(_number(args, "metrics-port", int)),
    )
    await server.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    print(f"cim-router listening on {server.address}", flush=True)
    await stopping.wait()
    log.info("shutting down")
    await server.stop(_number(args, "shutdown-grace", float))


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        configure_logging(str(args.log_level), str(args.log_format))
    except ValueError as exc:
        raise SystemExit(f"cim-router: {exc}") from None
    if args.command == "serve":
        asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
