"""What one transition writes, as the commit script's ops; and a batch of them as the
script's keys and arguments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgpack

from cim_router.domain.interaction import InteractionState
from cim_router.store import codec, compact
from cim_router.store.keys import Keys
from cim_router.store.settings import RedisSettings
from cim_router.tenant.records import Erasure, Transition
from cim_router.tenant.tallies import BUCKET_SECONDS, FLOAT_COUNTS, KEEP_BUCKETS

CLOSED = (InteractionState.COMPLETED, InteractionState.CANCELLED)
TALLY_SECONDS = KEEP_BUCKETS * BUCKET_SECONDS  # a tally bucket's TTL
Op = tuple[Any, ...]  # (opcode, key, args...)
TWO_KEYS = frozenset({"fold", "hpush"})  # opcodes whose first argument is a key too


def encode(k: Keys, settings: RedisSettings, tenant: str, t: Transition) -> list[Op]:
    """The ops that write `t` (see scripts.COMMIT for each opcode)."""
    keep = settings.retention_seconds
    small = settings.record_format == "compact"
    record_out = compact.interaction_out if small else codec.interaction_out
    event_out = compact.history_event_out if small else codec.event_out
    customer_out = compact.customer_out if small else codec.customer_out
    ops: list[Op] = []
    closing: list[Op] = []  # written after the transition's events: they fold in with it
    for rec in t.interactions:
        data = record_out(rec)
        if rec.interaction.state in CLOSED:
            key, history = k.interaction(tenant, rec.id), k.history(tenant, rec.id)
            closing.append(("fold", key, history, data, keep, settings.history_max, int(small)))
            ops.append(("srem", k.open(tenant), rec.id))
            if rec.interaction.customer_id:
                ops.extend(_indexed(k, small, tenant, rec.interaction.customer_id, rec.id, keep))
        else:
            ops.append(("set", k.interaction(tenant, rec.id), data))
            ops.append(("sadd", k.open(tenant), rec.id))
    for arec in t.agents:
        ops.append(("hset", k.agents(tenant), arec.agent.id, codec.agent_out(arec)))
    for agent_id in t.removed_agents:
        ops.append(("hdel", k.agents(tenant), agent_id))
    for queue in t.queues:
        ops.append(("hset", k.queues(tenant), queue.id, codec.queue_out(queue)))
    for queue_id in t.removed_queues:
        ops.append(("hdel", k.queues(tenant), queue_id))
    for e in t.events:
        # The stream's entries stay JSON, whatever the format: its readers are others' too.
        data = codec.event_out(e)
        history, record = (
            k.history(tenant, e.interaction_id),
            k.interaction(tenant, e.interaction_id),
        )
        entry = event_out(e) if small else data
        ops.append(("hpush", history, record, entry, settings.history_max))
        ops.append(("xadd", k.events(tenant), settings.stream_maxlen, data))
    ops.extend(closing)
    for name, n in t.counters.items():
        ops.append(("hincr", k.counters(tenant), name, n))
    if t.tallies:
        ops.extend(_tallies(k, tenant, t.tallies))
    for c in t.customers:
        if small:
            ops.append(("hset", k.customer_fields(tenant, c.customer_id), "", customer_out(c)))
        else:
            ops.append(("setex", k.customer(tenant, c.customer_id), customer_out(c), keep))
        ops.extend(_indexed(k, small, tenant, c.customer_id, c.last_interaction_id, keep))
    for erased in t.erasures:
        ops.extend(_erase(k, tenant, erased))
    if t.request is not None:
        r = t.request
        data = codec.request_out(r)
        ops.append(("setex", k.request(tenant, r.request_id), data, settings.request_seconds))
    if t.new_tenant:
        ops.append(("sadd", k.tenants(), tenant))
    for key in t.quarantined:
        ops.append(("sadd", k.quarantine(tenant), key))
    return ops


def _indexed(k: Keys, small: bool, tenant: str, customer_id: str, iid: str, keep: int) -> list[Op]:
    """`iid` added to the customer's index, whose TTL starts again: the hash that holds their
    record too (compact records), or the set (JSON, as versions before)."""
    if small:
        fields = k.customer_fields(tenant, customer_id)
        return [("hset", fields, iid, ""), ("expire", fields, keep)]
    index = k.customer_interactions(tenant, customer_id)
    return [("sadd", index, iid), ("expire", index, keep)]


def _tallies(k: Keys, tenant: str, tallies: dict[tuple[int, str], float]) -> list[Op]:
    ops: list[Op] = []
    buckets: set[int] = set()
    for (bucket, name), n in tallies.items():
        key = k.tallies(tenant, bucket)
        buckets.add(bucket)
        if name.rsplit("|", 1)[-1] in FLOAT_COUNTS:
            ops.append(("hincrf", key, name, float(n)))
        else:
            ops.append(("hincr", key, name, int(n)))
    ops.extend(("expire", k.tallies(tenant, b), TALLY_SECONDS) for b in sorted(buckets))
    return ops


def _erase(k: Keys, tenant: str, e: Erasure) -> list[Op]:
    """A customer forgotten: their records and index (in every layout), their interactions'
    history (the lists, and what their records hold), and the stream's entries naming
    those interactions."""
    ops: list[Op] = [
        ("del", k.customer_fields(tenant, e.customer_id)),
        ("del", k.customer(tenant, e.customer_id)),
        ("del", k.customer_interactions(tenant, e.customer_id)),
        ("del", k.legacy_customer(tenant, e.customer_id)),
    ]
    for iid in e.interaction_ids:
        ops.append(("del", k.history(tenant, iid)))
        ops.append(("unfold", k.interaction(tenant, iid)))
    if e.interaction_ids:
        entries, ids = list(e.stream_entries), list(e.interaction_ids)
        ops.append(("xforget", k.events(tenant), entries, e.scanned_to, ids))
    return ops


def script_args(
    epoch_key: str, epoch: str, batch: Sequence[tuple[str, Sequence[Op]]]
) -> tuple[list[str], list[Any]]:
    """KEYS and ARGV of one commit of `batch` ((create guard or "", ops) per transition):
    every key once, the ops naming keys by index."""
    keys = [epoch_key]
    index: dict[str, int] = {}

    def ref(key: str) -> int:
        found = index.get(key)
        if found is None:
            keys.append(key)
            found = index[key] = len(keys)
        return found

    guards = [ref(guard) for guard, _ in batch if guard]
    flat: list[Any] = []
    for _, ops in batch:
        for op in ops:
            flat.append(op[0])
            flat.append(ref(op[1]))
            if op[0] in TWO_KEYS:
                flat.append(ref(op[2]))
                flat.extend(op[3:])
            else:
                flat.extend(op[2:])
    pack = msgpack.packb
    return keys, [epoch, pack(guards), pack(flat, use_bin_type=False)]
