"""Where and how a client connects: target, tenant header, TLS and channel options."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import grpc

DEFAULT_TARGET = "localhost:50051"
DEFAULT_TIMEOUT = 10.0
TENANT_HEADER = "x-cim-tenant"
REQUEST_HEADER = "x-cim-request-id"
AUTH_HEADER = "authorization"

ChannelOption = tuple[str, Any]

# gRPC waits 1 s, then up to 120 s, between attempts to reconnect; a router client would
# rather find a restarted server within the backoff of its own retries.
DEFAULT_OPTIONS: tuple[ChannelOption, ...] = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
)


@dataclass(frozen=True)
class Tls:
    """TLS settings; `Tls()` alone trusts the system's root certificates.

    Give `certificate_chain` and `private_key` (PEM) for mutual TLS, and `server_name`
    when the server's certificate names a host other than the target's.
    """

    root_certificates: bytes | None = None
    certificate_chain: bytes | None = None
    private_key: bytes | None = None
    server_name: str | None = None

    @classmethod
    def from_files(
        cls,
        ca: str | Path | None = None,
        cert: str | Path | None = None,
        key: str | Path | None = None,
        server_name: str | None = None,
    ) -> Tls:
        """Read the PEM files given; None leaves a setting unset."""

        def read(path: str | Path | None) -> bytes | None:
            return None if path is None else Path(path).read_bytes()

        return cls(read(ca), read(cert), read(key), server_name)

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.root_certificates,
            private_key=self.private_key,
            certificate_chain=self.certificate_chain,
        )


def channel_options(tls: Tls | None, options: Iterable[ChannelOption]) -> list[ChannelOption]:
    """The defaults, then the caller's options (which win), then the TLS name override."""
    merged = dict(DEFAULT_OPTIONS)
    merged.update(options)
    if tls is not None and tls.server_name:
        merged["grpc.ssl_target_name_override"] = tls.server_name
    return list(merged.items())


def tenant_metadata(tenant: str | None, token: str | None = None) -> tuple[tuple[str, str], ...]:
    """The tenant header, and the API key as `authorization: Bearer <key>` if given."""
    found = ((TENANT_HEADER, tenant),) if tenant else ()
    return (*found, (AUTH_HEADER, f"Bearer {token}")) if token else found


Metadata = tuple[tuple[str, str], ...]


def request_metadata(base: Metadata) -> Metadata:
    """`base` plus a fresh request id, for one logical call and all its retries."""
    return (*base, (REQUEST_HEADER, uuid4().hex))
