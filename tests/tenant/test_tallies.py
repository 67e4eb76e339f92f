"""The tallies behind the measures: field names, bucket sums (and their kept sums when the
clock goes back), pruning, and loading what a store holds."""

from __future__ import annotations

from cim_router.domain.channel import Channel
from cim_router.tenant.tallies import KEEP_BUCKETS, Tallies, field_name, parse_field

SALES = ("sales", Channel.VOICE)


def test_field_names_round_trip_even_with_bars_in_the_queue_id() -> None:
    name = field_name("a|b", Channel.CHAT, "answered")
    assert name == "a|b|chat|answered"
    assert parse_field(name) == ("a|b", Channel.CHAT, "answered")
    assert parse_field("sales|fax|answered") is None
    assert parse_field("sales|chat|bogus") is None
    assert parse_field("answered") is None


def test_long_windows_sum_every_bucket_and_follow_later_counts() -> None:
    t = Tallies()
    for bucket in range(1000, 1300):
        t.add(bucket, SALES, "offered", 1)
    assert t.total(1000, 1299)[SALES].offered == 300
    t.add(1300, SALES, "offered", 1)
    assert t.total(1000, 1300)[SALES].offered == 301  # the kept sum grew by one bucket
    assert t.total(1100, 1300)[SALES].offered == 201
    assert t.total(1000, 1010)[SALES].offered == 11


def test_a_count_in_a_bucket_already_summed_is_not_lost() -> None:
    t = Tallies()
    for bucket in range(1000, 1300):
        t.add(bucket, SALES, "answered", 1)
    assert t.total(1000, 1299)[SALES].answered == 300
    t.add(1100, SALES, "answered", 5)  # a clock that went back
    assert t.total(1000, 1299)[SALES].answered == 305


def test_buckets_older_than_two_days_are_dropped() -> None:
    t = Tallies()
    for bucket in range(0, KEEP_BUCKETS + 10):
        t.add(bucket, SALES, "offered", 1)
    assert len(t.buckets) <= KEEP_BUCKETS + 1
    assert min(t.buckets) >= 9
    assert t.total(0, 20)[SALES].offered == 20 - 9 + 1


def test_a_load_takes_the_stored_counts_and_ignores_unknown_fields() -> None:
    t = Tallies()
    t.add(5, SALES, "offered", 3)
    t.load(
        {
            10: {"sales|voice|wait_seconds": 2.5, "sales|voice|answered": 2.0, "junk": 1.0},
            11: {"q|chat|abandoned": 1.0},
        }
    )
    assert 5 not in t.buckets  # what was in memory before the load is gone
    got = t.total(10, 11)
    assert got[SALES].answered == 2 and isinstance(got[SALES].answered, int)
    assert got[SALES].wait_seconds == 2.5
    assert got["q", Channel.CHAT].abandoned == 1
