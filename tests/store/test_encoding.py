"""The record encodings: the compact one round-trips every field, records and history
written as JSON (by versions before it, or with `record_format=json`) still read back as
they were written, and a Redis holding both serves both."""

from __future__ import annotations

import asyncio
import dataclasses
import math

import redis as redis_lib
from hypothesis import given, settings
from hypothesis import strategies as st

from cim_router.domain.channel import Channel
from cim_router.domain.interaction import Interaction, InteractionState, SkillRequirement
from cim_router.routing.explain import TERM_NAMES, Candidate, Explanation, UrgencyParts
from cim_router.store import RedisSettings, RedisStore, codec, compact
from cim_router.store.keys import Keys
from cim_router.tenant import stream_ids
from cim_router.tenant.records import (
    Callback,
    CallbackAttempt,
    CustomerRecord,
    Event,
    EventType,
    InteractionRecord,
    Offer,
    PendingTransfer,
    TransferMode,
    Transition,
)
from tests.redis_server import drop_prefix, redis_url, unique_prefix
from tests.store.test_redis_store import full_interaction

text = st.text(max_size=12)
times = st.floats(allow_nan=False, min_value=-1e12, max_value=1e12) | st.sampled_from(
    [0.0, 1.0, 1_764_614_400.123456, math.inf, 2.0**62, -(2.0**62), 1e300]
)
counts = st.integers(min_value=-(2**40), max_value=2**40)
channels = st.sampled_from(list(Channel))
reqs = st.lists(
    st.builds(SkillRequirement, text, st.integers(min_value=-5, max_value=20)), max_size=3
).map(tuple)
json_values = st.recursive(
    st.none() | st.booleans() | counts | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
candidates = st.none() | st.builds(
    Candidate,
    text,
    times,
    st.one_of(
        st.lists(times, min_size=len(TERM_NAMES), max_size=len(TERM_NAMES)).map(
            lambda v: dict(zip(TERM_NAMES, v, strict=True))
        ),
        st.dictionaries(text, times, max_size=3),
    ),
)
explanations = st.none() | st.builds(
    Explanation,
    st.just("placeholder"),
    times,
    counts,
    times,
    counts,
    counts,
    st.dictionaries(text, counts, max_size=3),
    candidates,
    candidates,
    st.builds(UrgencyParts, times, times, times, st.booleans()),
)


@st.composite
def records(draw: st.DrawFn) -> InteractionRecord:
    excluded = draw(st.frozensets(text, max_size=3))
    i = Interaction(
        draw(text),
        draw(channels),
        tenant="t",
        customer_id=draw(text),
        required=draw(reqs),
        preferred=draw(reqs),
        priority=draw(counts),
        customer_tier=draw(st.sampled_from(["standard", "", "gold"]) | text),
        sla_seconds=draw(times),
        enqueued_at=draw(times),
        escalation_level=draw(counts),
        preferred_agent=draw(text),
        excluded_agents=excluded,
        context=draw(st.dictionaries(text, json_values, max_size=4)),
        state=draw(st.sampled_from(list(InteractionState))),
        queue_id=draw(st.sampled_from(["default", "", "sales"]) | text),
    )
    why = draw(explanations)
    return InteractionRecord(
        i,
        agent_id=draw(text),
        offer=draw(st.none() | st.builds(Offer, text, channels, times, times, st.booleans())),
        transfer=draw(
            st.none()
            | st.builds(
                PendingTransfer, st.sampled_from(list(TransferMode)), text, channels, reqs, text
            )
        ),
        linked_interaction_id=draw(text),
        disposition=draw(text),
        csat=draw(counts),
        assigned_at=draw(times),
        answered=draw(st.booleans()),
        wrap_up_until=draw(times),
        request_digest=draw(st.binary(max_size=40)),
        explanation=None if why is None else dataclasses.replace(why, interaction_id=i.id),
        arrival=draw(counts),
        exclusions={a: draw(times) for a in excluded},
        rules_fired=tuple(draw(st.lists(text, max_size=3))),
        tags=tuple(draw(st.lists(text, max_size=3))),
        outbound=draw(st.booleans()),
        not_before=draw(times),
        callback=draw(
            st.none()
            | st.builds(
                Callback,
                text,
                counts,
                times,
                times,
                st.lists(st.builds(CallbackAttempt, times, text, text), max_size=2).map(tuple),
            )
        ),
        repeat=draw(st.booleans()),
        hold_started_at=draw(times),
        hold_count=draw(counts),
        hold_seconds=draw(times),
        hold_limit_raised=draw(st.booleans()),
        completed_at=draw(times),
        feedback_comment=draw(text),
        feedback_fields=draw(st.dictionaries(text, text, max_size=3)),
    )


def _same(a: InteractionRecord, b: InteractionRecord) -> None:
    assert b == a
    # Every field, those the record's equality leaves out too, and nothing else.
    assert vars(b.interaction).keys() == {f.name for f in dataclasses.fields(Interaction)}
    assert vars(b).keys() == {f.name for f in dataclasses.fields(InteractionRecord)}


@settings(max_examples=300, deadline=None)
@given(records())
def test_every_field_of_an_interaction_round_trips_in_the_compact_form(
    rec: InteractionRecord,
) -> None:
    if not rec.hold_count:  # the hold is written with its count (as in JSON)
        rec = dataclasses.replace(
            rec, hold_started_at=0.0, hold_seconds=0.0, hold_limit_raised=False
        )
    data = compact.interaction_out(rec)
    assert data[:1] == bytes([compact.VERSION]) and compact.is_compact(data)
    _same(rec, codec.interaction_in(data, "t"))


@settings(max_examples=200, deadline=None)
@given(
    st.builds(Event, times, st.sampled_from(list(EventType)), text, channels, text, text).flatmap(
        lambda e: st.builds(
            dataclasses.replace,
            st.just(e),
            caller=st.sampled_from(["router", "", "key:ops"]) | text,
            queue_id=text,
            rule=text,
        )
    )
)
def test_every_field_of_a_history_event_round_trips_in_the_compact_form(e: Event) -> None:
    data = compact.history_event_out(e)
    assert compact.is_compact(data)
    assert codec.history_event_in(data, e.interaction_id) == e


@given(st.builds(CustomerRecord, text, text, text, times))
def test_a_customer_record_round_trips_in_the_compact_form(c: CustomerRecord) -> None:
    assert codec.customer_in(c.customer_id, compact.customer_out(c)) == c


def test_records_in_the_json_form_read_back_as_they_were_written() -> None:
    rec = full_interaction()
    data = codec.interaction_out(rec)
    assert data[:1] == b"{"
    _same(rec, codec.interaction_in(data, "t"))
    e = Event(3.5, EventType.RULE_FIRED, "x", Channel.SMS, "ann", "why", "key:1", "q", "r")
    assert codec.history_event_in(codec.event_out(e), "x") == e
    c = CustomerRecord("c1", "x", "ann", 4.5)
    assert codec.customer_in("c1", codec.customer_out(c)) == c


def test_a_record_stored_by_an_older_version_reads_with_its_defaults() -> None:
    # As a version before the compact encoding (and before most of the later fields) wrote
    # it: the fields it lacks take their defaults.
    old = (
        b'{"id":"i1","ch":2,"cust":"c1","req":[["billing",4]],"pref":[],"prio":40,'
        b'"ctier":"gold","sla":30.0,"enq":1000.5,"esc":0,"pagent":"","excl":["bo"],'
        b'"ctx":{"order":"A-1"},"state":2,"agent":"ann","link":"","disp":"","csat":0,'
        b'"assigned":1001.5,"answered":true,"wrap":0.0,"digest":"0102","arrival":7}'
    )
    rec = codec.interaction_in(old, "t")
    want = InteractionRecord(
        Interaction(
            "i1",
            Channel.CHAT,
            tenant="t",
            customer_id="c1",
            required=(SkillRequirement("billing", 4),),
            priority=40,
            customer_tier="gold",
            sla_seconds=30.0,
            enqueued_at=1000.5,
            excluded_agents=frozenset({"bo"}),
            context={"order": "A-1"},
            state=InteractionState.ASSIGNED,
        ),
        agent_id="ann",
        assigned_at=1001.5,
        answered=True,
        request_digest=b"\x01\x02",
        arrival=7,
        exclusions={"bo": 0.0},
    )
    assert rec == want
    assert codec.history_event_in(b'[3.5,4,"i1",2,"ann",""]', "i1") == Event(
        3.5, EventType.ACCEPTED, "i1", Channel.CHAT, "ann"
    )


def test_the_compact_form_is_smaller() -> None:
    rec = full_interaction()
    assert len(compact.interaction_out(rec)) < len(codec.interaction_out(rec)) / 2
    e = Event(
        1_764_614_400.25, EventType.ACCEPTED, "chat-000123", Channel.CHAT, "ann", "", "router"
    )
    assert len(compact.history_event_out(e)) < len(codec.event_out(e)) / 2
    assert b"chat-000123" not in compact.history_event_out(e)  # the history's key names it
    assert codec.history_event_in(compact.history_event_out(e), "chat-000123") == e


def test_a_store_reads_what_a_json_writing_store_wrote_and_then_writes_compact() -> None:
    """A rollout: records and history written as JSON, then a server on the compact form
    loads them, serves them, and appends in its own form; the stream stays JSON."""
    prefix = unique_prefix()
    old_settings = RedisSettings.from_url(redis_url(), prefix=prefix, record_format="json")
    new_settings = dataclasses.replace(old_settings, record_format="compact")
    rec = full_interaction()
    rec.interaction.tenant = "t"
    closed = InteractionRecord(
        Interaction("done", Channel.VOICE, tenant="t", customer_id="c1", enqueued_at=5.0),
        arrival=2,
    )
    closed.interaction.state = InteractionState.COMPLETED
    first = Event(1.25, EventType.ENQUEUED, rec.id, Channel.CHAT, caller="router")
    second = Event(2.5, EventType.ACCEPTED, rec.id, Channel.CHAT, "ann", caller="key:x")

    async def body() -> None:
        old = RedisStore(old_settings)
        await old.start()
        seq = old.submit(
            "t",
            Transition(
                interactions=[rec, closed],
                events=[first],
                customers=[CustomerRecord("c1", rec.id, "ann", 9.5)],
                new_tenant=True,
            ),
        )
        await old.durable(seq)
        await old.close()
        raw = redis_lib.Redis.from_url(redis_url())
        k = Keys(prefix)
        assert raw.get(k.interaction("t", rec.id))[:1] == b"{"  # type: ignore[index]
        new = RedisStore(new_settings)
        await new.start()
        try:
            snap = await new.load("t")
            assert snap.interactions == [rec] and not snap.quarantined
            assert await new.read_interaction("t", "done") == closed
            assert (await new.read_existing("t", rec.id, "c1"))[1] == CustomerRecord(
                "c1", rec.id, "ann", 9.5
            )
            await new.durable(new.submit("t", Transition(interactions=[rec], events=[second])))
            written = raw.get(k.interaction("t", rec.id))
            assert isinstance(written, bytes) and compact.is_compact(written)
            history = raw.lrange(k.history("t", rec.id), 0, -1)
            assert [h[:1] for h in history] == [b"[", b"\x01"]
            assert await new.read_history("t", rec.id) == [first, second]
            page = await new.read_events("t", stream_ids.START, 10)
            assert [entry.event for entry in page.entries] == [first, second]
            assert all(
                f[b"e"][:1] == b"["  # type: ignore[index]
                for _, f in raw.xrange(k.events("t"))  # type: ignore[union-attr]
            )
            assert (await new.load("t")).interactions == [rec]
        finally:
            await new.close()
            raw.close()
            drop_prefix(prefix)

    asyncio.run(body())


def test_record_format_is_checked() -> None:
    assert RedisSettings.from_url("redis://h/0?record_format=json").record_format == "json"
    assert RedisSettings().record_format == "compact"
    try:
        RedisSettings(record_format="xml")
    except ValueError as exc:
        assert "record_format" in str(exc)
    else:
        raise AssertionError("an unknown record format was accepted")
