"""The `/metrics` endpoint: prometheus_client's WSGI app on a threaded server of our own,
optionally over TLS and behind a bearer token.

The token is read from a file and re-read when the file changes; a request without it, or
with another, gets 401. The TLS certificate is re-read by `reload()` (SIGHUP) and when its
files change, for the connections that follow. The handshake happens on the request's own
thread, so a slow client does not hold up the others.
"""

from __future__ import annotations

import hmac
import logging
import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

log = logging.getLogger(__name__)

HANDSHAKE_SECONDS = 10.0


class MetricsConfigError(ValueError):
    """A metrics certificate, key or token file that cannot be used."""


@dataclass(frozen=True)
class MetricsAccess:
    """How /metrics is protected: TLS with `cert_file`/`key_file`, a bearer token read from
    `token_file`; either, both or neither."""

    cert_file: Path | None = None
    key_file: Path | None = None
    token_file: Path | None = None

    @property
    def tls(self) -> bool:
        return self.cert_file is not None


def _version(path: Path) -> tuple[int, int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (0, 0, 0)
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class TokenFile:
    """The expected bearer token, re-read when its file changes (an unreadable or empty
    file keeps the previous token, with a warning)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._version = _version(path)
        token = self._read()
        if token is None:
            raise MetricsConfigError(f"--metrics-token-file {path}: unreadable or empty")
        self._token = token

    def _read(self) -> bytes | None:
        try:
            token = self.path.read_bytes().strip()
        except OSError:
            return None
        return token or None

    def current(self) -> bytes:
        with self._lock:
            version = _version(self.path)
            if version != self._version:
                self._version = version
                token = self._read()
                if token is None:
                    log.warning("metrics token file unreadable or empty; the previous token stays")
                else:
                    self._token = token
            return self._token

    def accepts(self, header: str | None) -> bool:
        """Whether an Authorization header carries the token (compared in constant time)."""
        scheme, _, given = (header or "").partition(" ")
        expected = self.current()
        ok = hmac.compare_digest(given.strip().encode("latin-1", "replace"), expected)
        return scheme.lower() == "bearer" and ok


def with_token(app: Callable[..., Iterable[bytes]], token: TokenFile) -> Callable[..., Any]:
    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not token.accepts(environ.get("HTTP_AUTHORIZATION")):
            start_response(
                "401 Unauthorized",
                [("WWW-Authenticate", 'Bearer realm="metrics"'), ("Content-Type", "text/plain")],
            )
            return [b"401 Unauthorized: a bearer token is required\n"]
        return app(environ, start_response)

    return guarded


class ServerCertificate:
    """An SSL context whose certificate is re-read when its files change or on `reload()`."""

    def __init__(self, cert_file: Path, key_file: Path) -> None:
        self.cert_file, self.key_file = cert_file, key_file
        self._lock = threading.Lock()
        self._version = self._versions()
        context = self._load()
        if context is None:
            raise MetricsConfigError(
                f"{cert_file} and {key_file}: not a readable PEM certificate chain and its key"
            )
        self.context: ssl.SSLContext = context

    def _versions(self) -> tuple[tuple[int, int, int], ...]:
        return (_version(self.cert_file), _version(self.key_file))

    def _load(self) -> ssl.SSLContext | None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(self.cert_file, self.key_file)
        except (ssl.SSLError, OSError):
            return None
        return context

    def reload(self, force: bool = True) -> bool:
        with self._lock:
            version = self._versions()
            if not force and version == self._version:
                return False
            self._version = version
            context = self._load()
            if context is None:
                log.warning("metrics TLS files not reloaded, the previous ones stay")
                return False
            self.context = context
            return True

    def current(self) -> ssl.SSLContext:
        self.reload(force=False)
        return self.context


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # the base's name
        """No access log on stderr: scrapes are frequent and say nothing."""


class _TlsWSGIServer(ThreadingWSGIServer):
    certificate: ServerCertificate | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        # On the request's thread (ThreadingMixIn): the handshake blocks no one else.
        if self.certificate is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(HANDSHAKE_SECONDS)
        try:
            secured = self.certificate.current().wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # a plaintext client, an untrusted one, or one that went away
        try:
            super().finish_request(secured, client_address)
        finally:
            self.shutdown_request(secured)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("metrics request failed", exc_info=True)


class _TlsWSGIServer6(_TlsWSGIServer):
    address_family = socket.AF_INET6


class MetricsHTTPServer:
    """A running metrics endpoint; `port` is the bound one (useful after asking for 0)."""

    def __init__(
        self,
        httpd: WSGIServer,
        thread: threading.Thread,
        certificate: ServerCertificate | None = None,
    ) -> None:
        self._httpd = httpd
        self._thread = thread
        self.certificate = certificate
        self.host = str(httpd.server_address[0])
        self.port = int(httpd.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self.certificate is not None else "http"
        return f"{scheme}://{host}:{self.port}/metrics"

    def reload(self) -> bool:
        """Re-read the TLS certificate now (SIGHUP); True if a new one is served."""
        return self.certificate.reload() if self.certificate is not None else False

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


def check_access(access: MetricsAccess) -> None:
    """Raise MetricsConfigError now if a file of `access` cannot be used."""
    if access.token_file is not None:
        TokenFile(access.token_file)
    if access.cert_file is not None or access.key_file is not None:
        if access.cert_file is None or access.key_file is None:
            raise MetricsConfigError("metrics TLS needs both a certificate and a key file")
        ServerCertificate(access.cert_file, access.key_file)


def start_metrics_http(
    port: int,
    host: str,
    registry: CollectorRegistry,
    access: MetricsAccess | None = None,
) -> MetricsHTTPServer:
    """Serve `registry` at http(s)://host:port/metrics from a daemon thread; port 0 picks
    one. Raises MetricsConfigError for unusable certificate or token files.

    The scrape runs on that thread, so collectors must not need the event loop's thread
    (see `live.loop_source`)."""
    access = access or MetricsAccess()
    app: Callable[..., Any] = make_wsgi_app(registry)
    if access.token_file is not None:
        app = with_token(app, TokenFile(access.token_file))
    certificate = None
    check_access(access)
    if access.cert_file is not None and access.key_file is not None:
        certificate = ServerCertificate(access.cert_file, access.key_file)
    server_class = _TlsWSGIServer6 if ":" in host else _TlsWSGIServer
    httpd = make_server(host, port, app, server_class, handler_class=_QuietHandler)
    httpd.certificate = certificate
    thread = threading.Thread(target=httpd.serve_forever, name="cim-metrics", daemon=True)
    thread.start()
    return MetricsHTTPServer(httpd, thread, certificate)
