"""The pieces of the key check on their own: token parsing, the stored record, the token
bucket on a manual clock."""

from __future__ import annotations

import pytest

from cim_router.service.auth.quotas import KeyQuota
from cim_router.store import apikeys
from cim_router.tenant.errors import ResourceExhausted


def test_a_new_key_is_random_parses_back_and_matches_only_its_secret() -> None:
    record, token = apikeys.new_key("acme", "router", now=1.0)
    other, other_token = apikeys.new_key("acme", "router", now=1.0)
    parsed = apikeys.parse_token(token)
    assert parsed is not None and parsed[0] == record.key_id
    assert record.key_id != other.key_id and token != other_token
    assert len(parsed[1]) >= 43  # 32 random bytes
    last = "B" if parsed[1].endswith("A") else "A"  # another secret, one character off
    assert record.matches(parsed[1]) and not record.matches(parsed[1][:-1] + last)
    assert parsed[1] not in apikeys.encode_key(record)
    assert apikeys.decode_key(apikeys.encode_key(record)) == record


@pytest.mark.parametrize(
    "token",
    [
        "",
        "cimk_",
        "cimk_0123456789abcdef",
        "cimk_0123456789abcdef_short",
        "cimk_0123456789ABCDEF_" + "a" * 43,  # ids are lower-case hex
        "cimk_0123456789abcde_" + "a" * 43,
        "xxxx_0123456789abcdef_" + "a" * 43,
        "cimk_0123456789abcdef_" + "a" * 42 + "=",
        "cimk_0123456789abcdef_" + "a" * 43 + "\n",
    ],
)
def test_a_malformed_token_does_not_parse(token: str) -> None:
    assert apikeys.parse_token(token) is None


def test_a_stored_record_that_does_not_decode_is_no_key() -> None:
    assert apikeys.decode_key(b"not json") is None
    assert apikeys.decode_key(b'{"key_id": "x"}') is None


def test_the_bucket_gives_its_burst_then_its_rate() -> None:
    now = [0.0]
    quota = KeyQuota(
        rate=2.0, burst=3, max_watch_streams=1, max_waiting_assigns=0, clock=lambda: now[0]
    )
    for _ in range(3):
        quota.take()
    with pytest.raises(ResourceExhausted):
        quota.take()
    now[0] = 0.5  # one token back
    quota.take()
    with pytest.raises(ResourceExhausted):
        quota.take()
    now[0] = 100.0  # never more than the burst
    for _ in range(3):
        quota.take()
    with pytest.raises(ResourceExhausted):
        quota.take()
    with quota.watching(), pytest.raises(ResourceExhausted), quota.watching():
        pass
    with quota.watching():  # released
        pass
    for _ in range(5):  # 0: no cap
        with quota.waiting():
            pass
    quota.configure(0.0, 1, 0, 0)  # a rate of 0: no limit
    for _ in range(10):
        quota.take()
