"""`cim-router serve`: run the gRPC server. Every flag can also come from the environment
as CIM_ROUTER_<FLAG> (e.g. CIM_ROUTER_GRPC_PORT=50051); a flag given wins."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

# The router forks only to exec (its private redis-server); gRPC's fork handlers, run in
# the child between the two, can abort it while the server's threads poll (seen as a
# redis-server killed by SIGABRT at a restart). Set before grpc is first imported.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

from cim_router import access_cli, ops_cli
from cim_router.domain.policy import Policy, PolicyError, load_policy
from cim_router.loadgen import command as loadgen_command
from cim_router.observability.logs import configure_logging
from cim_router.simulate import command as simulate_command
from cim_router.store.settings import RedisSettings

if TYPE_CHECKING:
    from cim_router.observability.http import MetricsAccess
    from cim_router.service.auth import Access
    from cim_router.service.server import Server
    from cim_router.service.tls import ServerTls
    from cim_router.store import EmbeddedRedis, RedisStore

log = logging.getLogger("cim_router")

FENCED_EXIT = 3  # exit status of a server another one has taken the store over from

# flag -> (default, help)
SERVE_FLAGS: dict[str, tuple[str | None, str]] = {
    "host": (
        "127.0.0.1",
        "address to listen on; another than loopback needs --tls-client-ca, --auth or --insecure",
    ),
    "grpc-port": ("50051", "gRPC port (0 picks a free one)"),
    "metrics-port": ("9464", "Prometheus metrics port"),
    "redis-url": (
        None,
        "Redis holding the state: redis://, rediss:// (TLS) or unix:// "
        "(default: a private Redis started in --data-dir)",
    ),
    "data-dir": ("./cim-router-data", "directory of the private Redis and its append-only file"),
    "customer-key-secret-file": (
        None,
        "file holding the secret (16 bytes or more) that keys the hashes naming customers' "
        "Redis keys (default: made once in --data-dir for the private Redis; kept in Redis "
        "with --redis-url, which is weaker: see docs/security.md)",
    ),
    "redis-pool-size": ("16", "connections to Redis"),
    "redis-timeout": ("2", "seconds before a Redis command counts as failed"),
    "retention-days": ("7", "days completed and cancelled interactions are kept"),
    "policy": (None, "routing policy TOML file (default: the built-in policy)"),
    "metrics-skills": ("", "skills that get their own label in metrics, comma-separated"),
    "metrics-queues": ("50", "queues per tenant with their own label in metrics; the rest: other"),
    "log-level": ("INFO", "DEBUG, INFO, WARNING or ERROR"),
    "log-format": ("json", "json (one object per line) or text"),
    "shutdown-grace": ("10", "seconds in-flight calls get to finish on SIGTERM"),
    "max-watch-streams": ("1000", "open WatchAssignments streams per tenant"),
    "max-waiting-assigns": ("1000", "Assign calls waiting for work per tenant"),
    "max-event-streams": ("100", "open WatchEvents streams per tenant"),
    "request-id-seconds": ("3600", "how long a request id's outcome is kept for retries"),
    "tls-cert": (None, "PEM certificate chain of the gRPC port: serve TLS (needs --tls-key)"),
    "tls-key": (None, "PEM private key of --tls-cert"),
    "tls-client-ca": (
        None,
        "PEM CA certificate(s): require client certificates they issued (mutual TLS)",
    ),
    "metrics-tls-cert": (None, "PEM certificate chain of /metrics (default: --tls-cert)"),
    "metrics-tls-key": (None, "PEM private key of --metrics-tls-cert (default: --tls-key)"),
    "metrics-token-file": (None, "file holding the bearer token /metrics requires"),
    "redis-tls-ca": (None, "PEM CA to trust for a rediss:// Redis (default: the system's)"),
    "redis-tls-cert": (None, "PEM client certificate for a rediss:// Redis"),
    "redis-tls-key": (None, "PEM private key of --redis-tls-cert"),
    "cert-map": (None, "TOML file mapping client certificate names to tenant and role"),
}

# on/off flags: given, or CIM_ROUTER_<FLAG> set to 1, true or yes
SERVE_SWITCHES: dict[str, str] = {
    "insecure": "allow listening on a non-loopback address without authentication",
    "no-reflection": "do not serve gRPC reflection",
    "auth": "require an API key (or a mapped client certificate) on every call, and a "
    "created tenant",
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
    for flag, text in SERVE_SWITCHES.items():
        serve.add_argument(
            f"--{flag}",
            action="store_true",
            default=os.environ.get(env_name(flag), "").lower() in ("1", "true", "yes"),
            help=f"{text} [env {env_name(flag)}]",
        )
    ops_cli.register(sub)
    access_cli.register(sub)
    loadgen_command.register(sub)
    simulate_command.register(sub)
    return p


def _number(args: argparse.Namespace, flag: str, kind: type[int] | type[float]) -> float:
    value = getattr(args, flag.replace("-", "_"))
    try:
        return kind(value)
    except ValueError:
        raise SystemExit(f"cim-router: --{flag}: not a number: {value!r}") from None


def _queue_labels(args: argparse.Namespace) -> int:
    n = int(_number(args, "metrics-queues", int))
    if not 0 <= n <= 10_000:
        raise SystemExit(f"cim-router: --metrics-queues: must be 0..10000, got {n}")
    return n


def redis_settings(args: argparse.Namespace, url: str) -> RedisSettings:
    try:
        return RedisSettings.from_url(
            url,
            pool_size=int(_number(args, "redis-pool-size", int)),
            command_timeout=_number(args, "redis-timeout", float),
            retention_seconds=int(_number(args, "retention-days", float) * 86_400),
            request_seconds=int(_number(args, "request-id-seconds", float)),
            ssl_ca_certs=args.redis_tls_ca or None,
            ssl_certfile=args.redis_tls_cert or None,
            ssl_keyfile=args.redis_tls_key or None,
        )
    except ValueError as exc:
        raise SystemExit(f"cim-router: --redis-url: {exc}") from None


def _bind_checked(args: argparse.Namespace) -> None:
    """Refuse a non-loopback address without authentication unless --insecure."""
    from cim_router.service.bind import BindRefused, check_bind, is_loopback

    authenticated = bool(args.tls_client_ca) or bool(getattr(args, "auth", False))
    try:
        warning = check_bind(args.host, authenticated, args.insecure)
    except BindRefused as exc:
        raise SystemExit(f"cim-router: {exc}") from None
    if warning is not None:
        log.warning(warning)
        print(f"cim-router: warning: {warning}", file=sys.stderr, flush=True)
    if not is_loopback(args.host) and not args.metrics_token_file:
        log.warning("/metrics listens beyond loopback without --metrics-token-file")


def server_tls(args: argparse.Namespace) -> ServerTls | None:
    """The gRPC port's TLS from --tls-cert, --tls-key and --tls-client-ca."""
    from cim_router.service.tls import ServerTls

    if not args.tls_cert and not args.tls_key:
        if args.tls_client_ca:
            raise SystemExit("cim-router: --tls-client-ca needs --tls-cert and --tls-key")
        return None
    if not (args.tls_cert and args.tls_key):
        raise SystemExit("cim-router: --tls-cert and --tls-key go together")
    ca = Path(args.tls_client_ca) if args.tls_client_ca else None
    return ServerTls(Path(args.tls_cert), Path(args.tls_key), ca)


def metrics_access(args: argparse.Namespace) -> MetricsAccess:
    """/metrics's TLS (its own files, else the gRPC port's) and bearer token file."""
    from cim_router.observability.http import MetricsAccess

    cert = args.metrics_tls_cert or args.tls_cert
    key = args.metrics_tls_key or (args.tls_key if not args.metrics_tls_cert else None)
    if bool(cert) != bool(key):
        raise SystemExit("cim-router: --metrics-tls-cert and --metrics-tls-key go together")
    token = args.metrics_token_file

    def path(value: str | None) -> Path | None:
        return Path(value) if value else None

    return MetricsAccess(path(cert), path(key), path(token))


def _transport_checked(args: argparse.Namespace) -> None:
    """Stop with a message, not a traceback, on an unusable certificate, key or token file."""
    from cim_router.observability.http import MetricsConfigError, check_access
    from cim_router.service.tls import TlsError, load

    tls = server_tls(args)
    try:
        if tls is not None:
            load(tls)
    except TlsError as exc:
        raise SystemExit(f"cim-router: TLS: {exc}") from None
    try:
        check_access(metrics_access(args))
    except MetricsConfigError as exc:
        raise SystemExit(f"cim-router: metrics: {exc}") from None


async def serve(args: argparse.Namespace) -> None:
    try:
        policy = load_policy(args.policy)
    except PolicyError as exc:
        raise SystemExit(f"cim-router: {exc}") from None
    _bind_checked(args)
    _transport_checked(args)  # before the private Redis starts
    secret = _secret_file(args)
    async with contextlib.AsyncExitStack() as stack:
        url = args.redis_url
        if not url:
            data_dir = Path(args.data_dir)
            url = (await stack.enter_async_context(_private_redis(data_dir))).url
            secret = secret or _data_dir_secret(data_dir)
        await _serve_on(args, url, policy, secret)


def _secret_file(args: argparse.Namespace) -> bytes | None:
    from cim_router.store.secret import SecretError, read_secret_file

    if not args.customer_key_secret_file:
        return None
    try:
        return read_secret_file(Path(args.customer_key_secret_file))
    except SecretError as exc:
        raise SystemExit(f"cim-router: --customer-key-secret-file: {exc}") from None


def _data_dir_secret(data_dir: Path) -> bytes:
    from cim_router.store.secret import SecretError, data_dir_secret

    try:
        return data_dir_secret(data_dir)
    except SecretError as exc:
        raise SystemExit(f"cim-router: {exc}") from None


@contextlib.asynccontextmanager
async def _private_redis(data_dir: Path) -> AsyncIterator[EmbeddedRedis]:
    """The private Redis, restarted if it dies, shut down gracefully at the end."""
    from cim_router.store import EmbeddedRedis
    from cim_router.store.embedded import EmbeddedRedisError

    embedded = EmbeddedRedis(data_dir)
    try:
        embedded.start()
    except EmbeddedRedisError as exc:
        raise SystemExit(f"cim-router: {exc}") from None
    print(f"cim-router: private redis on {embedded.address}, data in {data_dir}", flush=True)
    # A task of this (the main) thread's loop: Redis is forked from the main thread, so it
    # gets its death signal only when the router ends.
    supervisor = asyncio.create_task(embedded.supervise(), name="cim-embedded-redis")
    try:
        yield embedded
    finally:
        supervisor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await supervisor
        embedded.stop()


async def _serve_on(
    args: argparse.Namespace, url: str, policy: Policy, secret: bytes | None
) -> None:
    from cim_router.observability.http import MetricsConfigError
    from cim_router.service.server import Server
    from cim_router.service.tls import TlsError
    from cim_router.store import RedisStore
    from cim_router.tenant.errors import Unavailable
    from cim_router.tenant.registry import TenantLimits

    port = int(_number(args, "grpc-port", int))
    limits = TenantLimits(
        max_watch_streams=int(_number(args, "max-watch-streams", int)),
        max_parked_assigns=int(_number(args, "max-waiting-assigns", int)),
        max_event_streams=int(_number(args, "max-event-streams", int)),
        request_seconds=_number(args, "request-id-seconds", float),
    )
    try:
        store = RedisStore(redis_settings(args, url), customer_secret=secret)
        server = Server(
            args.host,
            port,
            limits=limits,
            store=store,
            access=_access(args, store),
            policy=policy,
            metrics_port=int(_number(args, "metrics-port", int)),
            metrics_skills=frozenset(
                s.strip() for s in args.metrics_skills.split(",") if s.strip()
            ),
            metrics_queues=_queue_labels(args),
            tls=server_tls(args),
            metrics_access=metrics_access(args),
            reflection=not args.no_reflection,
        )
    except TlsError as exc:
        raise SystemExit(f"cim-router: TLS: {exc}") from None
    except MetricsConfigError as exc:
        raise SystemExit(f"cim-router: metrics: {exc}") from None
    try:
        await server.start()
    except Unavailable as exc:
        raise SystemExit(f"cim-router: {exc.message}") from None
    _tune_gc()
    await _run_until_signal(args, server)


def _access(args: argparse.Namespace, store: RedisStore) -> Access | None:
    """The API-key check with --auth (and client certificates with --cert-map too)."""
    from cim_router.service.auth.certs import CertMap, CertMapError
    from cim_router.service.auth.keys import KeyAccess

    if not args.auth:
        if args.cert_map:
            raise SystemExit("cim-router: --cert-map needs --auth")
        return None
    try:
        certs = CertMap.load(args.cert_map) if args.cert_map else None
    except CertMapError as exc:
        raise SystemExit(f"cim-router: --cert-map: {exc}") from None
    return KeyAccess(store.redis, store.keys, certs=certs)


def _tune_gc() -> None:
    """Fewer, later collections: the state loaded at start is frozen out of them, and the
    young generation may grow larger before a pass. A serving router allocates many small
    short-lived objects per RPC; with the default thresholds the collector's passes over a
    large heap show up in the tail latency (p99 at 350/s fell from 35-46 ms to 24-32 ms)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


async def _run_until_signal(args: argparse.Namespace, server: Server) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    loop.add_signal_handler(signal.SIGHUP, _reload, server)
    print(f"cim-router listening on {server.address}", flush=True)
    signalled = asyncio.create_task(stopping.wait())
    fenced = asyncio.create_task(server.fenced.wait())
    await asyncio.wait((signalled, fenced), return_when=asyncio.FIRST_COMPLETED)
    for task in (signalled, fenced):
        task.cancel()
    log.info("shutting down")
    await server.stop(_number(args, "shutdown-grace", float))
    if server.fenced.is_set():
        # Another server took over the store: this one may never serve again. A distinct
        # status tells a supervisor to restart it (it then takes a new epoch).
        raise SystemExit(FENCED_EXIT)


def _reload(server: Server) -> None:
    changed = server.reload_certificates()
    log.info("SIGHUP: certificates %s", "reloaded" if changed else "unchanged")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command in ops_cli.COMMANDS:
        return ops_cli.run(args)
    if args.command in access_cli.COMMANDS:
        return access_cli.run(args)
    if args.command == loadgen_command.COMMAND:
        return loadgen_command.run(args)
    if args.command == simulate_command.COMMAND:
        return simulate_command.run(args)
    try:
        configure_logging(str(args.log_level), str(args.log_format))
    except ValueError as exc:
        raise SystemExit(f"cim-router: {exc}") from None
    if args.command == "serve":
        asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
