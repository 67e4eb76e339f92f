"""The Redis store: group commit of transitions, reads, outage detection and recovery.

Writes go through one flusher task: whatever RPCs submitted while the previous round trip
was in flight is sent as one Lua script call (`scripts.COMMIT`), atomic on the server, so
durability costs one round trip per batch rather than per RPC. A failed write loses every
submission not yet durable; the store then reports unhealthy, pings until Redis answers,
and tells its listeners to reload.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import logging
import time
from collections import deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection as Connection
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.retry import Retry

from cim_router.store import codec, customers, event_reads, history_reads
from cim_router.store.bulk_reads import mget_many
from cim_router.store.decode import (
    WrongType,
    counters_in,
    decode_agent,
    decode_interaction,
    decode_queue,
    interaction_or_none,
)
from cim_router.store.keys import Keys
from cim_router.store.ops import Op, encode, script_args
from cim_router.store.scripts import COMMIT
from cim_router.store.settings import RedisSettings
from cim_router.store.tally_reads import read_stored_tallies
from cim_router.tenant.errors import Unavailable
from cim_router.tenant.ports import (
    NO_METRICS,
    CustomerFootprint,
    CustomerView,
    Erasable,
    Snapshot,
    StoreListener,
    StoreMetrics,
    StreamPage,
)
from cim_router.tenant.records import (
    CustomerRecord,
    Event,
    InteractionRecord,
    RequestOutcome,
    Transition,
)

log = logging.getLogger(__name__)

FAILURES = (RedisError, OSError, asyncio.TimeoutError)
CLOSE_SECONDS = 5.0  # how long close waits for the store's own tasks to end


async def _let_others_run() -> None:
    """Let every ready task run first: RPCs that arrived together share one round trip."""
    await asyncio.sleep(0)
    await asyncio.sleep(0)


@dataclass
class _Entry:
    seq: int
    ops: list[Op]
    guard: str  # a key that must not exist, or ""


class RedisStore:
    """The service's `Store` on Redis."""

    def __init__(
        self,
        settings: RedisSettings,
        metrics: StoreMetrics | None = None,
        customer_secret: bytes | None = None,
    ) -> None:
        """`customer_secret` keys the hashes that name customers' keys; without one, the
        store keeps a secret of its own in Redis (see docs/security.md)."""
        self.settings = settings
        self.keys = Keys(settings.prefix, customer_secret or b"")
        self._secret_in_redis = not customer_secret
        self.metrics: StoreMetrics = metrics or NO_METRICS
        pool = aioredis.BlockingConnectionPool.from_url(
            settings.client_url(),
            max_connections=settings.pool_size,
            timeout=settings.command_timeout,  # waiting for a free connection
            socket_timeout=settings.command_timeout,
            socket_connect_timeout=settings.connect_timeout,
            # Never retry silently: a retried commit could apply twice, and an outage must
            # reach the caller at once.
            retry=Retry(NoBackoff(), 0),
            **settings.connection_kwargs(),
        )
        self.redis = aioredis.Redis(connection_pool=pool)
        self._sha = hashlib.sha1(COMMIT.encode()).hexdigest()
        # The flusher and the reader are single tasks: each has a connection of its own.
        self._writer: Connection = pool.connection_class(**pool.connection_kwargs)
        self._reader_conn: Connection = pool.connection_class(**pool.connection_kwargs)
        self._epoch = ""
        self._listeners: list[StoreListener] = []
        self._healthy = False
        self._fenced = False
        self._closing = False  # the loops stop on it: a cancelled call may raise as an outage
        self._fence_watch: asyncio.Task[None] | None = None
        self._seq = 0
        self._durable_seq = 0
        self._lost_seq = 0
        self._pending: deque[_Entry] = deque()
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._reconnect: asyncio.Task[None] | None = None
        # Group reads: concurrent point reads share one MGET (and the HGETs sent with it).
        self._reads: list[tuple[list[str], list[str], asyncio.Future[list[bytes | None]]]] = []
        self._read_wake = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        return self._healthy

    @property
    def fenced(self) -> bool:
        return self._fenced

    def listen(self, listener: StoreListener) -> None:
        self._listeners.append(listener)

    async def start(self) -> None:
        """Connect and take a new epoch: from now on only this server may write."""
        try:
            self._epoch = str(await self.redis.incr(self.keys.epoch()))
            await self.redis.script_load(COMMIT)
            if not self.keys.customer_secret:
                self.keys.customer_secret = await customers.stored_secret(self)
        except FAILURES as exc:
            raise Unavailable(f"redis at {self._where()} unreachable: {exc}") from exc
        self._healthy = True
        self._flusher = asyncio.create_task(self._flush_forever(), name="cim-redis-flush")
        self._reader = asyncio.create_task(self._read_forever(), name="cim-redis-read")
        self._fence_watch = asyncio.create_task(self._watch_epoch(), name="cim-redis-fence")
        log.info("redis store ready", extra={"epoch": self._epoch})

    async def close(self) -> None:
        """Write what is pending (if Redis answers), then disconnect."""
        if self._healthy and self._seq > self._durable_seq:
            try:
                await asyncio.wait_for(self.durable(self._seq), self.settings.command_timeout)
            except (Unavailable, asyncio.TimeoutError):
                log.warning("closing with unwritten changes")
        self._closing = True
        tasks = [t for t in (self._flusher, self._reconnect, self._reader, self._fence_watch) if t]
        for task in tasks:
            task.cancel()
        if tasks:  # one still running after this does not hold the shutdown up
            await asyncio.wait(tasks, timeout=CLOSE_SECONDS)
        self._healthy = False
        for conn in (self._writer, self._reader_conn):
            await conn.disconnect()
        await self.redis.aclose()

    def _where(self) -> str:
        return self.settings.client_url().split("@")[-1]

    # --- reads ----------------------------------------------------------------------------

    def _check(self) -> None:
        if not self._healthy:
            raise Unavailable("store unavailable: redis is unreachable")

    async def round_trip(self, op: str, coro: Any) -> Any:
        """One read of `op`, timed; a failure to reach Redis makes the store unhealthy."""
        if not self._healthy:
            coro.close()  # never sent: don't leave it unawaited
            self._check()
        start = time.perf_counter()
        try:
            result = await coro
        except ResponseError as exc:  # Redis answered: the data, not the store, is at fault
            self.metrics.redis_error(op)
            raise WrongType(str(exc)) from exc
        except FAILURES as exc:
            self.metrics.redis_error(op)
            if self._healthy:
                log.warning("redis read failed: %s", exc)
                self._lose()  # unreachable for reads is unreachable for writes too
            raise Unavailable(f"store unavailable: {exc}") from exc
        self.metrics.redis_roundtrip(op, time.perf_counter() - start)
        return result

    async def tenants(self) -> list[str]:
        found = await self.round_trip("read", self.redis.smembers(self.keys.tenants()))
        return sorted(t.decode(errors="replace") for t in found)

    async def load(self, tenant: str) -> Snapshot:
        k = self.keys
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(k.agents(tenant))
        pipe.hgetall(k.counters(tenant))
        pipe.smembers(k.open(tenant))
        pipe.sismember(k.tenants(), tenant)
        pipe.hgetall(k.queues(tenant))
        found = await self.round_trip("load", pipe.execute(raise_on_error=False))
        snap = Snapshot()
        # A key of the wrong type (written by something else) loads as empty, named.
        names = ("agents", "counters", "open", "tenants", "queues")
        for name, value in zip(names, found, strict=True):
            if isinstance(value, Exception):
                snap.quarantined.append((f"key:{name}", "wrong type"))
        agents, counters, members, known, queues = (
            {} if isinstance(v, Exception) else v for v in found
        )
        snap.counters, snap.known = counters_in(counters), bool(known)
        for field, value in agents.items():
            decode_agent(snap, field.decode(errors="replace"), value)
        for field, value in sorted(queues.items()):
            decode_queue(snap, field.decode(errors="replace"), value)
        ids = [i.decode(errors="replace") for i in members]
        wanted = [k.interaction(tenant, i).encode() for i in ids]
        values = await self.round_trip("load", mget_many(self.redis, wanted))
        for interaction_id, value in zip(ids, values, strict=True):
            if value is not None:
                decode_interaction(snap, tenant, interaction_id, value)
        return snap

    async def _get(self, keys: list[str], hashes: Sequence[str] = ()) -> list[bytes | None]:
        """Values of `keys`, then of each hash of `hashes` its field "", read together with
        whatever other reads are waiting."""
        self._check()
        fut: asyncio.Future[list[bytes | None]] = asyncio.get_running_loop().create_future()
        self._reads.append((keys, list(hashes), fut))
        self._read_wake.set()
        return await fut

    async def _read_batch(self, keys: list[str], hashes: list[str]) -> list[bytes | None]:
        """One MGET of `keys` and an HGET of each hash's field "", sent at once on the
        reader's connection; a hash of the wrong type reads as missing, as MGET's keys."""
        conn = self._reader_conn
        if not hashes:
            values: list[bytes | None] = await self._call(conn, "MGET", *keys)
            return values
        commands = [("MGET", *keys), *(("HGET", h, "") for h in hashes)]
        await conn.send_packed_command(conn.pack_commands(commands))
        values = list(await conn.read_response())
        for _ in hashes:
            try:
                values.append(await conn.read_response())
            except ResponseError:
                values.append(None)
        return values

    async def _read_forever(self) -> None:
        while not self._closing:
            await self._read_wake.wait()
            await _let_others_run()
            self._read_wake.clear()
            while self._reads:
                batch, self._reads = self._reads, []
                keys = [k for wanted, _, _ in batch for k in wanted]
                hashes = [h for _, more, _ in batch for h in more]
                try:
                    values = await self.round_trip("read", self._read_batch(keys, hashes))
                except Unavailable as exc:
                    await self._reader_conn.disconnect()
                    for _, _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                at, at_hash = 0, len(keys)
                for wanted, more, fut in batch:
                    if not fut.done():
                        found = values[at : at + len(wanted)]
                        fut.set_result(found + values[at_hash : at_hash + len(more)])
                    at, at_hash = at + len(wanted), at_hash + len(more)

    async def read_interaction(self, tenant: str, interaction_id: str) -> InteractionRecord | None:
        (data,) = await self._get([self.keys.interaction(tenant, interaction_id)])
        return None if data is None else interaction_or_none(data, tenant, interaction_id)

    async def read_history(self, tenant: str, interaction_id: str) -> list[Event]:
        return await history_reads.read_history(self, tenant, interaction_id)

    async def read_request(self, tenant: str, request_id: str) -> RequestOutcome | None:
        (data,) = await self._get([self.keys.request(tenant, request_id)])
        if data is None:
            return None
        try:
            return codec.request_in(request_id, data)
        except Exception:
            log.warning("undecodable request outcome ignored", extra={"tenant": tenant})
            return None

    async def read_existing(
        self, tenant: str, interaction_id: str, customer_id: str
    ) -> tuple[InteractionRecord | None, CustomerRecord | None]:
        """An interaction under this id, and the customer's record (in the hash, else in
        the key versions before wrote), in one round trip."""
        k = self.keys
        keys, hashes = [k.interaction(tenant, interaction_id)], []
        if customer_id:
            keys.append(k.customer(tenant, customer_id))
            hashes.append(k.customer_fields(tenant, customer_id))
        found = await self._get(keys, hashes)
        rec = None if found[0] is None else interaction_or_none(found[0], tenant, interaction_id)
        if not customer_id:
            return rec, None
        return rec, customers.customer_or_none(tenant, customer_id, found[2], found[1])

    async def read_customer(self, tenant: str, customer_id: str) -> CustomerFootprint:
        return await customers.read_customer(self, tenant, customer_id)

    async def read_tallies(self, tenant: str, first: int, last: int) -> dict[int, dict[str, float]]:
        return await read_stored_tallies(self, tenant, first, last)

    async def read_events(self, tenant: str, after: str, count: int) -> StreamPage:
        return await event_reads.read_events(self, tenant, after, count)

    async def read_customer_view(self, tenant: str, customer_id: str) -> CustomerView:
        return await customers.read_customer_view(self, tenant, customer_id)

    async def read_erasable(self, tenant: str, interaction_ids: Collection[str]) -> Erasable:
        return await customers.read_erasable(self, tenant, interaction_ids)

    # --- writes ---------------------------------------------------------------------------

    @property
    def submitted(self) -> int:
        return self._seq

    def submit(self, tenant: str, t: Transition, create: str = "") -> int:
        self._check()
        guard = self.keys.interaction(tenant, create) if create else ""
        self._seq += 1
        self._pending.append(_Entry(self._seq, encode(self.keys, self.settings, tenant, t), guard))
        self._wake.set()
        return self._seq

    async def durable(self, seq: int) -> None:
        if seq <= self._durable_seq:
            return
        if seq <= self._lost_seq:
            raise Unavailable("store unavailable: the change could not be written")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (seq, id(fut), fut))
        await fut

    def _release(self) -> None:
        while self._waiters and self._waiters[0][0] <= self._durable_seq:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)

    async def _flush_forever(self) -> None:
        while not self._closing:
            await self._wake.wait()
            await _let_others_run()
            self._wake.clear()
            while self._pending and self._healthy:
                batch = self._next_batch()
                if await self._write(batch):
                    self._durable_seq = batch[-1].seq
                    self._release()
                    for listener in self._listeners:
                        listener.on_durable(self._durable_seq)

    def _next_batch(self) -> list[_Entry]:
        """The next group commit: up to `max_batch` transitions and, past the first, no more
        than `max_batch_ops` ops, so that one script call stays well inside the timeout."""
        batch = [self._pending.popleft()]
        ops = len(batch[0].ops)
        limit = self.settings.max_batch_ops
        while self._pending and len(batch) < self.settings.max_batch:
            ops += len(self._pending[0].ops)
            if ops > limit:
                break
            batch.append(self._pending.popleft())
        return batch

    def _script_args(self, batch: Sequence[_Entry]) -> tuple[list[str], list[Any]]:
        return script_args(self.keys.epoch(), self._epoch, [(e.guard, e.ops) for e in batch])

    async def _call(self, conn: Connection, *args: Any) -> Any:
        """One command on one of the store's own connections (no pool on the hot path)."""
        await conn.send_command(*args)
        return await conn.read_response()

    async def _write(self, batch: Sequence[_Entry]) -> bool:
        keys, args = self._script_args(batch)
        start = time.perf_counter()
        try:
            try:
                reply = await self._call(
                    self._writer, "EVALSHA", self._sha, len(keys), *keys, *args
                )
            except NoScriptError:  # Redis restarted or flushed its scripts: nothing ran
                await self._call(self._writer, "SCRIPT", "LOAD", COMMIT)
                reply = await self._call(
                    self._writer, "EVALSHA", self._sha, len(keys), *keys, *args
                )
        except ResponseError as exc:
            self.metrics.redis_error("commit")
            if str(exc).startswith("FENCED"):
                self._fence()
            else:
                log.error("commit refused by redis: %s", exc)
                self._lose()
            return False
        except FAILURES as exc:
            self.metrics.redis_error("commit")
            log.warning("redis write failed: %s", exc)
            await self._writer.disconnect()
            self._lose()
            return False
        self.metrics.redis_roundtrip("commit", time.perf_counter() - start)
        if isinstance(reply, list) and reply[0] == b"SKIPPED":
            # Written, but for ops on keys something else overwrote with another type.
            self.metrics.redis_error("commit_skipped")
            log.error("commit left out %s ops on keys of the wrong type", reply[1])
        elif isinstance(reply, list):  # a guarded key exists: nothing was written
            log.warning("an interaction to create exists already in redis; reloading")
            self._lose()
            return False
        return True

    def _lose(self) -> None:
        """Every submission not yet durable is lost: fail its waiters, tell the listeners,
        and start pinging for Redis's return."""
        self._healthy = False
        self._lost_seq = self._seq
        self._pending.clear()
        while self._waiters:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_exception(Unavailable("store unavailable: the change could not be written"))
        for listener in self._listeners:
            listener.on_lost()
        if not self._fenced and (self._reconnect is None or self._reconnect.done()):
            self._reconnect = asyncio.create_task(self._reconnect_forever(), name="cim-redis-ping")

    async def _watch_epoch(self) -> None:
        """Notice a takeover even while idle: a fenced server must stop serving at once,
        not at its next write."""
        while not self._fenced and not self._closing:
            await asyncio.sleep(self.settings.fence_check_seconds)
            if not self._healthy:
                continue  # the reconnect loop checks the epoch before serving again
            try:
                epoch = await self.redis.get(self.keys.epoch())
            except FAILURES:
                continue  # a failed read is the reads' and writes' business (or closing)
            if epoch is not None and epoch != self._epoch.encode():
                self._fence()

    def _fence(self) -> None:
        if self._fenced:
            return
        self._fenced = True
        log.error("another server has taken over this redis: this one stops serving")
        self._lose()
        for listener in self._listeners:
            listener.on_fenced()

    async def _reconnect_forever(self) -> None:
        while not self._closing:
            await asyncio.sleep(self.settings.reconnect_seconds)
            try:
                epoch = await self.redis.get(self.keys.epoch())
                if epoch is None:
                    log.error("redis came back without its data; taking a new epoch")
                    self._epoch = str(await self.redis.incr(self.keys.epoch()))
                    if self._secret_in_redis:  # the next server must name keys as this one
                        await customers.keep_secret(self)
                elif epoch != self._epoch.encode():
                    self._fence()
                    return
            except FAILURES:
                self.metrics.redis_error("ping")
                continue
            log.info("redis reachable again")
            self._healthy = True
            for listener in self._listeners:
                listener.on_recovered()
            return
