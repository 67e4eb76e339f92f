"""The policy's `sensitive_context_keys` and the customer key secret: checked at start,
every error naming what is wrong."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cim_router.cli import main
from cim_router.domain.context import MASK, keys_only, masked
from cim_router.domain.policy import Policy, PolicyError, policy_from_mapping
from cim_router.store.secret import SECRET_FILE, SecretError, data_dir_secret, read_secret_file


def test_sensitive_keys_load_as_a_set() -> None:
    policy = policy_from_mapping({"sensitive_context_keys": ["card", "dob", "card"]})
    assert policy.sensitive_context_keys == frozenset({"card", "dob"})
    assert Policy().sensitive_context_keys == frozenset()


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("card", "must be a list of context keys"),
        ([1], "[0] must be a string, got int"),
        ([""], "[0] must be 1..256 characters"),
        (["x" * 257], "[0] must be 1..256 characters"),
        ([f"k{n}" for n in range(257)], "at most 256 keys, got 257"),
    ],
)
def test_bad_sensitive_keys_name_the_key(value: object, says: str) -> None:
    with pytest.raises(PolicyError) as bad:
        policy_from_mapping({"sensitive_context_keys": value})
    assert bad.value.key == "sensitive_context_keys" and says in bad.value.reason


def test_masking_replaces_values_of_the_keys_named_and_keys_only_every_value() -> None:
    context = {"card": "4111", "order": {"id": 7}, "dob": "1970-01-01"}
    assert masked(context, frozenset({"card", "dob"})) == {
        "card": MASK,
        "order": {"id": 7},
        "dob": MASK,
    }
    assert keys_only(context) == dict.fromkeys(context, MASK)
    assert context["card"] == "4111"  # a copy: the record keeps its values


def test_the_data_dir_secret_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    first = data_dir_secret(tmp_path)
    path = tmp_path / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32 and data_dir_secret(tmp_path) == first
    other = tmp_path / "other"
    other.mkdir()
    assert data_dir_secret(other) != first


def test_a_secret_file_is_read_stripped_and_refused_when_short(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_bytes(b"  0123456789abcdef-and-more\n")
    os.chmod(path, 0o600)
    assert read_secret_file(path) == b"0123456789abcdef-and-more"
    path.write_bytes(b"short\n")
    with pytest.raises(SecretError, match="at least 16 bytes"):
        read_secret_file(path)
    with pytest.raises(SecretError, match="cannot read"):
        read_secret_file(tmp_path / "missing")


def test_serve_stops_at_once_on_a_bad_secret_file(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("short")
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--customer-key-secret-file", str(path), "--redis-url", "redis://x:1"])
    assert "--customer-key-secret-file" in str(stopped.value.code)
    assert "at least 16 bytes" in str(stopped.value.code)
