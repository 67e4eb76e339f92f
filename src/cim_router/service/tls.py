"""TLS on the gRPC port: the server's certificate and key, and the CA that client
certificates must come from for mutual TLS; re-read without a restart.

gRPC asks for the certificate configuration on every new handshake (dynamic server
credentials); the files' versions (inode, size, modification time) are compared then, and a
changed set is read, checked and served to the connections that follow. `reload()` (on
SIGHUP) reads them at once. A set that does not load (a key that does not match its
certificate, a file half written) is not served: the previous one stays, with a warning.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

import grpc

log = logging.getLogger(__name__)


class TlsError(ValueError):
    """A certificate, key or CA file that cannot be used."""


@dataclass(frozen=True)
class ServerTls:
    """Where the server's certificate chain and key are (PEM); with `client_ca_file`,
    clients must present a certificate that CA issued (mutual TLS)."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None

    @property
    def mutual(self) -> bool:
        return self.client_ca_file is not None

    def files(self) -> tuple[Path, ...]:
        extra = (self.client_ca_file,) if self.client_ca_file is not None else ()
        return (self.cert_file, self.key_file, *extra)


FileVersion = tuple[tuple[int, int, int], ...]


def file_versions(paths: tuple[Path, ...]) -> FileVersion:
    """(inode, size, mtime in ns) of each file; a missing one counts as (0, 0, 0)."""
    out = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append((0, 0, 0))
        else:
            out.append((st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(out)


@dataclass(frozen=True)
class Loaded:
    cert: bytes
    key: bytes
    client_ca: bytes | None


def load(tls: ServerTls) -> Loaded:
    """Read and check the files: the key must match the certificate, the CA must parse.
    Raises TlsError naming the file."""
    try:
        cert = tls.cert_file.read_bytes()
        key = tls.key_file.read_bytes()
        ca = tls.client_ca_file.read_bytes() if tls.client_ca_file is not None else None
    except OSError as exc:
        raise TlsError(f"cannot read {exc.filename}: {exc.strerror}") from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    except (ssl.SSLError, OSError):
        raise TlsError(
            f"{tls.cert_file} and {tls.key_file}: not a PEM certificate chain and its key"
        ) from None
    if ca is not None:
        try:
            context.load_verify_locations(cadata=ca.decode("ascii", errors="replace"))
        except (ssl.SSLError, ValueError):
            raise TlsError(f"{tls.client_ca_file}: not a PEM CA certificate") from None
    return Loaded(cert, key, ca)


class TlsCredentials:
    """The gRPC server credentials of one `ServerTls`, serving its files' latest good
    version to new connections."""

    def __init__(self, tls: ServerTls) -> None:
        self.tls = tls
        self._lock = threading.Lock()
        self._version = file_versions(tls.files())
        self._current = load(tls)  # TlsError at start: the caller reports it and stops
        self._pending: grpc.ServerCertificateConfiguration | None = None
        self.reloads = 0  # how many new sets have been taken up

    def _configuration(self, loaded: Loaded) -> grpc.ServerCertificateConfiguration:
        return grpc.ssl_server_certificate_configuration(
            [(loaded.key, loaded.cert)], root_certificates=loaded.client_ca
        )

    def server_credentials(self) -> grpc.ServerCredentials:
        return grpc.dynamic_ssl_server_credentials(
            self._configuration(self._current),
            self._fetch,  # type: ignore[arg-type]  # None means "no change" (grpc's docs)
            require_client_authentication=self.tls.mutual,
        )

    def reload(self) -> bool:
        """Read the files now (SIGHUP); True if a new set will be served. The files' version
        is not compared: a rewrite within one mtime tick is taken too."""
        with self._lock:
            return self._take(file_versions(self.tls.files()))

    def _take(self, version: FileVersion) -> bool:
        self._version = version
        try:
            loaded = load(self.tls)
        except TlsError as exc:
            log.warning("TLS files not reloaded, the previous ones stay: %s", exc)
            return False
        if loaded == self._current:
            return False
        self._current = loaded
        self._pending = self._configuration(loaded)
        self.reloads += 1
        log.info("TLS certificate reloaded", extra={"file": str(self.tls.cert_file)})
        return True

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """Called by gRPC on each new handshake: a new configuration, or None to keep."""
        with self._lock:
            version = file_versions(self.tls.files())
            if version != self._version:
                self._take(version)
            pending, self._pending = self._pending, None
            return pending
