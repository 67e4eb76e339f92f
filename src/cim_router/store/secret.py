"""The customer key secret: what keys the hashes that name customers' Redis keys.

Given as a file (`--customer-key-secret-file`), or, for the private Redis, made once and
kept in its data directory, readable by the router's user only. Without either (a Redis
of someone else's and no file), the store keeps one in Redis itself (redis_store.py),
which is weaker: whoever reads Redis can then test guessed customer ids against the key
names (docs/security.md).
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from cim_router.store.keys import MIN_SECRET_BYTES

log = logging.getLogger(__name__)

SECRET_FILE = "customer-key.secret"


class SecretError(ValueError):
    """The secret cannot be used; the message says why."""


def read_secret_file(path: Path) -> bytes:
    """The secret a file holds: its bytes, surrounding whitespace left out."""
    try:
        value = path.read_bytes().strip()
    except OSError as exc:
        raise SecretError(f"{path}: cannot read: {exc.strerror}") from None
    if len(value) < MIN_SECRET_BYTES:
        raise SecretError(f"{path}: a customer key secret is at least {MIN_SECRET_BYTES} bytes")
    if path.stat().st_mode & 0o077:
        log.warning("the customer key secret file is readable by others", extra={"key": str(path)})
    return value


def data_dir_secret(data_dir: Path) -> bytes:
    """The secret kept in the data directory, made (mode 0600) the first time."""
    path = data_dir / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_secret_file(path)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32) + "\n")
        out.flush()
        os.fsync(out.fileno())
    log.info("customer key secret made", extra={"key": str(path)})
    return read_secret_file(path)
