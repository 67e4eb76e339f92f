"""How to reach Redis and what to keep there."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

DAY = 86_400
RECORD_FORMATS = ("compact", "json")


@dataclass(frozen=True)
class RedisSettings:
    """Connection and retention settings; `from_url` reads them from a URL."""

    url: str = "redis://127.0.0.1:6379/0"  # redis://, rediss:// (TLS) or unix://
    prefix: str = "cim"
    pool_size: int = 16
    connect_timeout: float = 1.0
    command_timeout: float = 2.0
    retention_seconds: int = 7 * DAY  # completed and cancelled interactions, then they expire
    stream_maxlen: int = 100_000  # routing events kept in each tenant's stream, about
    history_max: int = 1000  # events kept per interaction, the newest
    max_batch: int = 256  # transitions in one group commit; 1 turns grouping off
    max_batch_ops: int = 20_000  # ops in one group commit, past its first transition
    reconnect_seconds: float = 0.25  # between pings while Redis is unreachable
    fence_check_seconds: float = 1.0  # between looks at the epoch, to notice a takeover
    request_seconds: int = 3600  # how long the outcome of a call with a request id is kept
    # How records and history events are written: "compact" (binary, a version byte first)
    # or "json", which versions before the compact encoding read (for a rollback). Both
    # are always read.
    record_format: str = "compact"
    # rediss:// only: the CA to trust (default: the system's), and a client certificate
    ssl_ca_certs: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    def __post_init__(self) -> None:
        tls_files = (self.ssl_ca_certs, self.ssl_certfile, self.ssl_keyfile)
        if any(tls_files) and not self.url.startswith("rediss://"):
            raise ValueError("TLS certificate files need a rediss:// URL")
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise ValueError("a client certificate for Redis needs its key, and the other way")
        if self.record_format not in RECORD_FORMATS:
            raise ValueError(f"record_format: one of {', '.join(RECORD_FORMATS)}")

    def connection_kwargs(self) -> dict[str, Any]:
        """The TLS files given, as the Redis client's connection arguments."""
        names = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")
        return {n: getattr(self, n) for n in names if getattr(self, n)}

    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> RedisSettings:
        """Settings from a URL; the query may carry any field, e.g.
        `redis://host:6379/0?pool_size=32&command_timeout=0.5`. Redis's own query options
        (`ssl_cert_reqs`, ...) pass through to the client."""
        names = {f.name: f.type for f in dataclasses.fields(cls)}
        query = parse_qs(urlsplit(url).query)
        values: dict[str, Any] = {}
        for key, found in query.items():
            if key in names and key != "url":
                kind = {"int": int, "float": float}.get(str(names[key]), str)
                try:
                    values[key] = kind(found[-1])
                except ValueError:
                    raise ValueError(f"redis url: {key}: not a number: {found[-1]!r}") from None
        values.update(overrides)
        return cls(url=url, **values)

    def client_url(self) -> str:
        """The URL without our own query fields, for the Redis client."""
        base, _, query = self.url.partition("?")  # not urlunsplit: it drops unix://'s "//"
        own = {f.name for f in dataclasses.fields(self)}
        kept = [p for p in query.split("&") if p and p.split("=", 1)[0] not in own]
        return f"{base}?{'&'.join(kept)}" if kept else base
