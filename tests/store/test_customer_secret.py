"""The customer key secret as `cim-router serve` finds it: made once in the data directory
for the private Redis (and kept across restarts, so a customer is still found), or read
from --customer-key-secret-file for a Redis of someone else's."""

from __future__ import annotations

import hashlib
import hmac
import stat
from pathlib import Path

import pytest
import redis

from cim_router._pb import router_pb2 as pb
from cim_router.store.secret import SECRET_FILE
from tests.redis_server import drop_prefix, redis_url, unique_prefix
from tests.store.process import start


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text("[wrap_up_seconds]\nchat = 0\n")
    return path


def test_the_private_redis_gets_a_secret_of_its_own_kept_across_restarts(
    policy: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    first = start(None, policy, data)
    try:
        client = first.client()
        client.agent("ann")
        client.enqueue("i1", customer_id="alice-secret-test")
        client.Accept(pb.AcceptRequest(interaction_id="i1", agent_id="ann"))
        client.Complete(pb.CompleteRequest(interaction_id="i1"))
        made = (data / SECRET_FILE).read_bytes()
        assert stat.S_IMODE((data / SECRET_FILE).stat().st_mode) == 0o600
    finally:
        assert first.terminate() == 0
    second = start(None, policy, data)
    try:
        assert (data / SECRET_FILE).read_bytes() == made
        # i1 is closed and not loaded: only the customer index, named by the hash, finds it.
        erased = second.client().ForgetCustomer(
            pb.ForgetCustomerRequest(customer_id="alice-secret-test")
        )
        assert list(erased.interaction_ids) == ["i1"] and erased.customer_index_erased
    finally:
        assert second.terminate() == 0


def test_a_secret_file_names_the_customer_keys(
    policy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "secret"
    secret.write_text("this-is-the-deployment-secret\n")
    secret.chmod(0o600)
    prefix = unique_prefix()
    monkeypatch.setenv("CIM_ROUTER_CUSTOMER_KEY_SECRET_FILE", str(secret))
    server = start(f"{redis_url()}?prefix={prefix}", policy)
    try:
        server.client().enqueue("i1", customer_id="alice-secret-test")
        digest = hmac.new(
            b"this-is-the-deployment-secret", b"default\x00alice-secret-test", hashlib.sha256
        ).hexdigest()
        r = redis.Redis.from_url(redis_url())
        try:
            # The customer's record and index: one hash, named by the digest.
            fields = r.hgetall(f"{prefix}:{{default}}:cus:{digest}")
            assert set(fields) == {b"", b"i1"}
            assert r.exists(f"{prefix}:{{default}}:cu:{digest}") == 0  # the layout before
            assert r.exists(f"{prefix}:{{default}}:cuix:{digest}") == 0
            assert r.exists(f"{prefix}:customer-key") == 0  # not kept in Redis
        finally:
            r.close()
    finally:
        assert server.terminate() == 0
        drop_prefix(prefix)
