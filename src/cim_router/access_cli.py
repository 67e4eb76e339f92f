"""`cim-router keys` and `cim-router tenants`: who may call the router.

`keys create|list|revoke` work on the running server's Redis (`--redis-url`, else the
private Redis of `--data-dir`); a change takes effect on a running server within a second.
`keys create` prints the key, once, and nothing else on stdout. `tenants create|list|delete`
call the server with an admin key (`--token`, env CIM_ROUTER_TOKEN).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from cim_router import ops_format as fmt
from cim_router.client import RouterClient, RouterError
from cim_router.client.connection import DEFAULT_TARGET, DEFAULT_TIMEOUT
from cim_router.client.flags import add_connection_flags, connection_from
from cim_router.domain.errors import ValidationError
from cim_router.domain.limits import check_id
from cim_router.service.auth.principal import ALL_TENANTS, Role
from cim_router.store import apikeys
from cim_router.store.audit import append_audit
from cim_router.store.datadir import private_redis_url
from cim_router.store.keys import Keys
from cim_router.store.provisioning import is_provisioned

COMMANDS = frozenset({"keys", "tenants"})
ROLES = [r.value for r in Role]


def _caller() -> str:
    """Who the audit trail names for a CLI action: the OS user."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


# --- parser -----------------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument(
        "--redis-url",
        default=os.environ.get("CIM_ROUTER_REDIS_URL"),
        help="the server's Redis [env CIM_ROUTER_REDIS_URL; default: the private Redis of "
        "--data-dir]",
    )
    store.add_argument(
        "--data-dir",
        default=os.environ.get("CIM_ROUTER_DATA_DIR", "./cim-router-data"),
        help="data directory of a server running its private Redis [env CIM_ROUTER_DATA_DIR]",
    )
    store.add_argument("--redis-prefix", default="cim", help="the server's key prefix (cim)")

    keys = sub.add_parser("keys", help="API keys: create, list, revoke")
    ks = keys.add_subparsers(dest="action", required=True)
    p = ks.add_parser("create", parents=[store], help="create a key; prints it once")
    p.add_argument("--tenant", required=True, help='the tenant it is bound to, "*" for all')
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--agent-id", default="", help="for role agent: the agent it acts for")
    p.add_argument("--name", default="", help="what the key is for")
    p.add_argument("--rate", type=float, default=apikeys.DEFAULT_RATE, help="requests/s (0: any)")
    p.add_argument("--burst", type=int, default=apikeys.DEFAULT_BURST, help="requests at once")
    p.add_argument(
        "--max-watch-streams",
        type=int,
        default=apikeys.DEFAULT_MAX_WATCH_STREAMS,
        help="open WatchAssignments streams (0: no cap)",
    )
    p.add_argument(
        "--max-waiting-assigns",
        type=int,
        default=apikeys.DEFAULT_MAX_WAITING_ASSIGNS,
        help="Assign(wait) calls in flight (0: no cap)",
    )
    p = ks.add_parser("list", parents=[store], help="list keys (never their secrets)")
    p.add_argument("--json", action="store_true")
    p = ks.add_parser("revoke", parents=[store], help="revoke a key by its id")
    p.add_argument("key_id", metavar="ID")

    conn = argparse.ArgumentParser(add_help=False)
    conn.add_argument("--target", default=os.environ.get("CIM_ROUTER_TARGET", DEFAULT_TARGET))
    add_connection_flags(conn)  # --token, --token-file, TLS files
    conn.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    conn.add_argument("--json", action="store_true")
    tenants = sub.add_parser("tenants", help="provisioned tenants: create, list, delete")
    ts = tenants.add_subparsers(dest="action", required=True)
    ts.add_parser("create", parents=[conn], help="create a tenant").add_argument("tenant_id")
    ts.add_parser("list", parents=[conn], help="list tenants")
    p = ts.add_parser("delete", parents=[conn], help="delete a tenant and all it holds")
    p.add_argument("tenant_id")


def run(args: argparse.Namespace) -> int:
    if args.command == "tenants":
        return _tenants(args)
    try:
        return asyncio.run(_keys(args))
    except _Refused as exc:
        print(f"cim-router {args.command} {args.action}: {exc}", file=sys.stderr)
        return exc.status


class _Refused(Exception):
    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


# --- keys -------------------------------------------------------------------------------------


async def _keys(args: argparse.Namespace) -> int:
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    url = args.redis_url or private_redis_url(Path(args.data_dir))
    if not url:
        raise _Refused(f"no server runs on {args.data_dir}; give --redis-url")
    redis = aioredis.Redis.from_url(url)
    keys = Keys(args.redis_prefix)
    try:
        if args.action == "create":
            return await _create(redis, keys, args)
        if args.action == "list":
            return await _list(redis, keys, args)
        return await _revoke(redis, keys, args)
    except (RedisError, OSError) as exc:
        raise _Refused(f"redis: {exc}") from None
    finally:
        await redis.aclose()


def _quotas(args: argparse.Namespace) -> apikeys.Quotas:
    q = apikeys.Quotas(args.rate, args.burst, args.max_watch_streams, args.max_waiting_assigns)
    if min(q.rate, q.burst, q.max_watch_streams, q.max_waiting_assigns) < 0 or q.burst < 1:
        raise _Refused("quotas: must not be negative, and --burst at least 1", 2)
    return q


async def _create(redis: Any, keys: Keys, args: argparse.Namespace) -> int:
    role = Role(args.role)
    try:
        if args.tenant != ALL_TENANTS:
            check_id("--tenant", args.tenant)
        if role is Role.AGENT:
            check_id("--agent-id", args.agent_id)
    except ValidationError as exc:
        raise _Refused(str(exc), 2) from None
    if role is not Role.AGENT and args.agent_id:
        raise _Refused("--agent-id: only for role agent", 2)
    record, token = apikeys.new_key(
        args.tenant,
        role.value,
        now=time.time(),
        agent_id=args.agent_id,
        name=args.name,
        quotas=_quotas(args),
    )
    if not await apikeys.save_key(redis, keys, record):
        raise _Refused("key id collision; run it again")
    await _audit(redis, keys, record.tenant, "keys.create", record.key_id)
    print(token, flush=True)
    print(f"created key {record.key_id} ({role.value}, tenant {record.tenant})", file=sys.stderr)
    return 0


async def _list(redis: Any, keys: Keys, args: argparse.Namespace) -> int:
    found = await apikeys.list_keys(redis, keys)
    rows = [_public(k) for k in found]
    if args.json:
        print(json.dumps({"keys": rows}, indent=2))
        return 0
    head = ("ID", "TENANT", "ROLE", "AGENT", "NAME", "CREATED", "REVOKED", "RATE/BURST")
    table = [
        (
            r["key_id"],
            r["tenant"],
            r["role"],
            r["agent_id"] or "-",
            r["name"] or "-",
            _when(r["created_at"]),
            _when(r["revoked_at"]),
            f"{r['rate']:g}/{r['burst']}",
        )
        for r in rows
    ]
    print(fmt.table(head, table) if table else "no keys")
    return 0


async def _revoke(redis: Any, keys: Keys, args: argparse.Namespace) -> int:
    record = await apikeys.revoke_key(redis, keys, args.key_id, time.time())
    if record is None:
        raise _Refused(f"no key {args.key_id!r}")
    await _audit(redis, keys, record.tenant, "keys.revoke", record.key_id)
    print(f"revoked key {record.key_id}")
    return 0


async def _audit(redis: Any, keys: Keys, tenant: str, action: str, key_id: str) -> None:
    """To the tenant's trail; the operators' for an operator's key or a tenant that does not
    exist (yet): recording creates nothing for a tenant that is not there."""
    where: str | None = None
    if tenant != ALL_TENANTS and (
        await is_provisioned(redis, keys, tenant) or await redis.sismember(keys.tenants(), tenant)
    ):
        where = tenant
    await append_audit(redis, keys, where, caller=_caller(), action=action, target=key_id)


def _public(key: apikeys.ApiKey) -> dict[str, Any]:
    """What `keys list` shows: never the secret nor its hash."""
    return {
        "key_id": key.key_id,
        "tenant": key.tenant,
        "role": key.role,
        "agent_id": key.agent_id,
        "name": key.name,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
        "rate": key.quotas.rate,
        "burst": key.quotas.burst,
        "max_watch_streams": key.quotas.max_watch_streams,
        "max_waiting_assigns": key.quotas.max_waiting_assigns,
    }


def _when(seconds: float | None) -> str:
    if not seconds:
        return "-"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


# --- tenants ----------------------------------------------------------------------------------


def _tenants(args: argparse.Namespace) -> int:
    try:
        connection = connection_from(args)
        client = RouterClient(
            args.target, timeout=args.timeout, token=connection.token, tls=connection.tls
        )
    except ValueError as exc:
        print(f"cim-router tenants: {exc}", file=sys.stderr)
        return 2
    try:
        with client:
            if args.action == "create":
                made = client.create_tenant(args.tenant_id)
                data: Any = fmt.to_dict(made)
                text = f"created tenant {made.tenant_id}"
            elif args.action == "delete":
                client.delete_tenant(args.tenant_id)
                data, text = {"tenant_id": args.tenant_id}, f"deleted tenant {args.tenant_id}"
            else:
                found = client.list_tenants()
                data = {"tenants": [fmt.to_dict(t) for t in found]}
                text = "\n".join(t.tenant_id for t in found) or "no tenants"
    except RouterError as exc:
        print(f"cim-router: {exc.code.name}: {exc.details}", file=sys.stderr)
        return 1
    print(json.dumps(data, indent=2) if args.json else text)
    return 0
