"""The event stream's entry ids: one contract for both stores.

An id is "MS-SEQ", two unsigned 64-bit integers, as Redis Stream ids are (the Redis store's
are Redis's own: milliseconds and a sequence; the in-memory store's are "0-N", N counting
its entries). Within a tenant's stream every new entry's id is greater than every earlier
one's, compared as the pair (MS, SEQ); "0-0" is before every entry.
"""

from __future__ import annotations

START = "0-0"  # before every entry
_MAX = 2**64 - 1
LAST = f"{_MAX}-{_MAX}"  # after every entry there can be


def parse(entry_id: str) -> tuple[int, int]:
    """The id as a comparable pair; ValueError for anything that is not "MS-SEQ"."""
    ms, sep, seq = entry_id.partition("-")
    if not sep or not ms.isdigit() or not seq.isdigit() or not ms.isascii() or not seq.isascii():
        raise ValueError(f"not a stream entry id: {entry_id!r}")
    pair = (int(ms), int(seq))
    if pair[0] > _MAX or pair[1] > _MAX:
        raise ValueError(f"not a stream entry id: {entry_id!r}")
    return pair


def is_valid(entry_id: str) -> bool:
    try:
        parse(entry_id)
    except ValueError:
        return False
    return True


def before(a: str, b: str) -> bool:
    """Whether entry id `a` comes before `b`."""
    return parse(a) < parse(b)
