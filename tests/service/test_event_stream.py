"""WatchEvents over gRPC on a live server: the tenant's routing events in order, each with
its stream entry id; type filters; resuming after an id (after a disconnect, and after a
server restart on the same Redis) with no gap and no duplicate; an id trimmed away refused
naming where the stream starts; the per-tenant cap on streams."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import redis
from google.protobuf import struct_pb2

from cim_router._pb import router_pb2 as pb
from cim_router.store.keys import Keys
from cim_router.tenant.registry import TenantLimits
from tests.redis_server import drop_prefix, redis_url
from tests.service.conftest import Client, Running, start_server, wait_for

Seen = tuple[str, int, str]  # (entry id, event type, interaction id)


def watch(client: Client, **kw: Any) -> Any:
    """A WatchEvents call, once the server says the stream is in place (its refusal, an
    RpcError, if it refused)."""
    call: Any = client.stub.WatchEvents(
        pb.WatchEventsRequest(**kw), timeout=10.0, metadata=(("x-cim-tenant", client.tenant),)
    )
    if "x-cim-events-after" not in dict(call.initial_metadata()):
        next(call)  # raises the call's status
        raise AssertionError("a stream began without its start metadata")
    return call


def _struct(**values: str) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(values)
    return out


def read_until(call: Iterator[pb.StreamEvent], last: tuple[int, str]) -> list[Seen]:
    """Entries up to and including the first of type `last[0]` for interaction `last[1]`."""
    seen: list[Seen] = []
    for message in call:
        e = message.event
        seen.append((message.id, e.type, e.interaction_id))
        if (e.type, e.interaction_id) == last:
            return seen
    raise AssertionError(f"stream ended before {last}: {seen}")


def test_events_arrive_in_order_with_ids_and_the_type_filter_holds(running: Running) -> None:
    client = running.client()
    everything = watch(client, from_start=True)
    wanted = (pb.EVENT_TYPE_ENQUEUED, pb.EVENT_TYPE_ACCEPTED, pb.EVENT_TYPE_CANCELLED)
    filtered = watch(client, types=wanted, from_start=True)
    client.agent("a1", skills={"billing": 5})
    client.enqueue("i1")
    client.Accept(pb.AcceptRequest(interaction_id="i1", agent_id="a1"))
    client.enqueue("i2")
    client.Cancel(pb.CancelRequest(interaction_id="i2", reason="customer hung up"))
    all_seen = read_until(everything, (pb.EVENT_TYPE_CANCELLED, "i2"))
    types = [(t, i) for _, t, i in all_seen]
    assert types[:3] == [
        (pb.EVENT_TYPE_ENQUEUED, "i1"),
        (pb.EVENT_TYPE_OFFERED, "i1"),
        (pb.EVENT_TYPE_ACCEPTED, "i1"),
    ]
    assert types.index((pb.EVENT_TYPE_ENQUEUED, "i2")) > 2
    assert types[-1] == (pb.EVENT_TYPE_CANCELLED, "i2")
    ids = [i for i, _, _ in all_seen]
    keys = [tuple(int(p) for p in i.split("-")) for i in ids]
    assert keys == sorted(set(keys)), "ids grow along the stream, each once"
    got = read_until(filtered, (pb.EVENT_TYPE_CANCELLED, "i2"))
    assert got == [s for s in all_seen if s[1] in wanted]
    everything.cancel()
    filtered.cancel()


def test_reasons_reach_the_stream_and_context_values_never_do(running: Running) -> None:
    client = running.client()
    call = watch(client, from_start=True)
    client.enqueue("i1", context={"card": "4111-SECRET-VALUE"})
    client.UpdateContext(
        pb.UpdateContextRequest(interaction_id="i1", context=_struct(pin="PIN-SECRET-9"))
    )
    client.Cancel(pb.CancelRequest(interaction_id="i1", reason="called back later"))
    messages = []
    for message in call:
        messages.append(message)
        if message.event.type == pb.EVENT_TYPE_CANCELLED:
            break
    call.cancel()
    wire = b"".join(m.SerializeToString() for m in messages)
    assert b"SECRET" not in wire
    assert messages[-1].event.reason == "called back later"


def test_a_stream_from_now_leaves_out_what_was_stored_before(running: Running) -> None:
    client = running.client()
    client.enqueue("old")
    call = watch(client)
    client.enqueue("new")
    message = next(call)
    assert (message.event.type, message.event.interaction_id) == (pb.EVENT_TYPE_ENQUEUED, "new")
    call.cancel()


def test_resuming_after_an_id_misses_nothing_and_repeats_nothing(running: Running) -> None:
    client = running.client()
    for n in range(5):
        client.enqueue(f"i{n}")
    first = watch(client, from_start=True)
    got = [next(first) for _ in range(3)]
    first.cancel()  # a disconnect
    for n in range(5, 8):
        client.enqueue(f"i{n}")
    client.Cancel(pb.CancelRequest(interaction_id="i7"))
    resumed = watch(client, after_id=got[-1].id)
    rest = read_until(resumed, (pb.EVENT_TYPE_CANCELLED, "i7"))
    resumed.cancel()
    whole = watch(client, from_start=True)
    expected = read_until(whole, (pb.EVENT_TYPE_CANCELLED, "i7"))
    whole.cancel()
    combined = [(m.id, m.event.type, m.event.interaction_id) for m in got] + rest
    assert combined == expected
    assert [i for _, _, i in expected] == [f"i{n}" for n in range(8)] + ["i7"]


def test_a_stream_resumes_after_a_server_restart_from_the_last_id(policy: Any) -> None:
    first = start_server(policy)
    settings = first.settings
    try:
        client = first.client()
        client.enqueue("i1")
        client.enqueue("i2")
        call = watch(client, from_start=True)
        got = [next(call), next(call)]
        call.cancel()
        client.enqueue("i3")  # stored, never received before the restart
        first.stop()
        second = start_server(policy, settings=settings)
        try:
            client = second.client()
            client.enqueue("i4")
            resumed = watch(client, after_id=got[-1].id)
            client.Cancel(pb.CancelRequest(interaction_id="i4"))
            rest = read_until(resumed, (pb.EVENT_TYPE_CANCELLED, "i4"))
            resumed.cancel()
        finally:
            second.stop()
    finally:
        first.stop()
        drop_prefix(settings.prefix)
    assert [(t, i) for _, t, i in rest] == [
        (pb.EVENT_TYPE_ENQUEUED, "i3"),
        (pb.EVENT_TYPE_ENQUEUED, "i4"),
        (pb.EVENT_TYPE_CANCELLED, "i4"),
    ]
    assert len({i for i, _, _ in rest}) == 3 and got[-1].id not in {i for i, _, _ in rest}


def test_an_id_trimmed_away_is_out_of_range_naming_where_the_stream_starts(
    running: Running,
) -> None:
    client = running.client()
    for n in range(6):
        client.enqueue(f"i{n}")
    call = watch(client, from_start=True)
    ids = [next(call).id for _ in range(6)]
    call.cancel()
    r = redis.Redis.from_url(redis_url())
    try:
        r.xtrim(Keys(running.settings.prefix).events("default"), maxlen=2, approximate=False)
    finally:
        r.close()
    with pytest.raises(grpc.RpcError) as caught:
        watch(client, after_id=ids[1])
        pytest.fail("a trimmed id was taken")
    assert caught.value.code() == grpc.StatusCode.OUT_OF_RANGE
    assert ids[4] in (caught.value.details() or "")
    # An id still kept resumes; from_start reads what is kept.
    kept = watch(client, after_id=ids[4])
    assert next(kept).id == ids[5]
    kept.cancel()
    again = watch(client, from_start=True)
    assert next(again).id == ids[4]
    again.cancel()


def test_streams_are_capped_per_tenant_and_bad_input_is_named(policy: Any) -> None:
    running = start_server(policy, limits=TenantLimits(max_event_streams=2))
    try:
        client = running.client()
        open_calls = [watch(client), watch(client)]
        with pytest.raises(grpc.RpcError) as caught:
            watch(client)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        other = watch(running.client("other"))  # another tenant's own cap
        open_calls[0].cancel()
        replaced: list[Any] = []

        def another() -> bool:  # the server notices the cancelled stream soon after
            try:
                replaced.append(watch(client))
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            return bool(replaced)

        wait_for(another, what="a stream in place of the cancelled one")
        for call in (open_calls[1], other, *replaced):
            call.cancel()
        for request, field in (
            (pb.WatchEventsRequest(after_id="12"), "after_id"),
            (pb.WatchEventsRequest(after_id="1-2-3"), "after_id"),
            (pb.WatchEventsRequest(after_id="1-2", from_start=True), "from_start"),
            (pb.WatchEventsRequest(types=[pb.EventType.ValueType(99)]), "types[0]"),
            (
                pb.WatchEventsRequest(types=[pb.EVENT_TYPE_ENQUEUED, pb.EVENT_TYPE_UNSPECIFIED]),
                "types[1]",
            ),
        ):
            with pytest.raises(grpc.RpcError) as bad:
                refused: Any = client.stub.WatchEvents(request, timeout=5.0)
                next(refused)
            assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert (bad.value.details() or "").startswith(f"{field}:")
    finally:
        running.stop()
        drop_prefix(running.settings.prefix)
