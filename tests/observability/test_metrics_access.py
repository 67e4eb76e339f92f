"""/metrics behind a bearer token and over TLS: 401 without the token or with another, 200
with it; the token and the certificate are re-read when their files change."""

from __future__ import annotations

import os
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter

from cim_router.observability.http import (
    MetricsAccess,
    MetricsConfigError,
    MetricsHTTPServer,
    TokenFile,
    start_metrics_http,
)
from tests.pki import CertificateAuthority
from tests.redis_server import drop_prefix
from tests.service.conftest import start_server

TOKEN = "s3cret-scrape-token"


def get(url: str, token: str | None = None, ca: Path | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    context = ssl.create_default_context(cafile=str(ca)) if ca is not None else None
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def registry() -> CollectorRegistry:
    reg = CollectorRegistry()
    Counter("cim_router_probe", "a counter the test looks for", registry=reg).inc()
    return reg


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "metrics-token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority(tmp_path / "pki")


@pytest.fixture
def guarded(token_file: Path) -> Iterator[MetricsHTTPServer]:
    server = start_metrics_http(0, "127.0.0.1", registry(), MetricsAccess(token_file=token_file))
    yield server
    server.close()


def test_a_token_is_required(guarded: MetricsHTTPServer) -> None:
    assert guarded.url.startswith("http://")
    status, body = get(guarded.url)
    assert status == 401 and "cim_router_probe" not in body
    assert get(guarded.url, "wrong")[0] == 401
    assert get(guarded.url, TOKEN + "x")[0] == 401
    status, body = get(guarded.url, TOKEN)
    assert status == 200 and "cim_router_probe_total 1.0" in body


def test_a_new_token_file_is_read_without_a_restart(
    guarded: MetricsHTTPServer, token_file: Path
) -> None:
    assert get(guarded.url, TOKEN)[0] == 200
    tmp = token_file.with_suffix(".new")
    tmp.write_text("rotated-token\n")
    os.replace(tmp, token_file)
    assert get(guarded.url, TOKEN)[0] == 401
    assert get(guarded.url, "rotated-token")[0] == 200
    token_file.write_text("")  # emptied by mistake: the last token stays
    assert get(guarded.url, "rotated-token")[0] == 200


def test_the_header_must_be_a_bearer_of_the_exact_token(token_file: Path) -> None:
    token = TokenFile(token_file)
    assert token.accepts(f"Bearer {TOKEN}") and token.accepts(f"bearer {TOKEN}")
    for header in (None, "", TOKEN, f"Basic {TOKEN}", "Bearer ", f"Bearer {TOKEN[:-1]}"):
        assert not token.accepts(header), header


def test_unusable_token_or_certificate_files_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    for access in (
        MetricsAccess(token_file=tmp_path / "missing"),
        MetricsAccess(token_file=empty),
        MetricsAccess(cert_file=tmp_path / "missing.crt", key_file=tmp_path / "missing.key"),
        MetricsAccess(cert_file=empty),
    ):
        with pytest.raises(MetricsConfigError):
            start_metrics_http(0, "127.0.0.1", registry(), access)


def test_metrics_over_tls_with_a_token(
    tmp_path: Path, ca: CertificateAuthority, token_file: Path
) -> None:
    issued = ca.server()
    access = MetricsAccess(issued.cert_file, issued.key_file, token_file)
    server = start_metrics_http(0, "127.0.0.1", registry(), access)
    try:
        assert server.url.startswith("https://")
        assert get(server.url, ca=ca.cert_file)[0] == 401
        status, body = get(server.url, TOKEN, ca=ca.cert_file)
        assert status == 200 and "cim_router_probe_total" in body
        plain = server.url.replace("https://", "http://")
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            get(plain, TOKEN)
        other = CertificateAuthority(tmp_path / "other", name="another CA")
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            get(server.url, TOKEN, ca=other.cert_file)

        # A renewed certificate (here from the other CA) is served after reload (SIGHUP).
        renewed = other.server("renewed")
        issued.key_file.write_bytes(renewed.key_pem)
        issued.cert_file.write_bytes(renewed.cert_pem)
        assert server.reload() is True
        assert get(server.url, TOKEN, ca=other.cert_file)[0] == 200
    finally:
        server.close()


def test_the_router_serves_metrics_as_configured(
    ca: CertificateAuthority, token_file: Path
) -> None:
    issued = ca.server()
    running = start_server(
        metrics_port=0,
        metrics_access=MetricsAccess(issued.cert_file, issued.key_file, token_file),
    )
    try:
        metrics = running.server.metrics
        assert metrics is not None
        assert get(metrics.url, ca=ca.cert_file)[0] == 401
        status, body = get(metrics.url, TOKEN, ca=ca.cert_file)
        assert status == 200 and "cim_router_" in body
    finally:
        running.stop()
        drop_prefix(running.settings.prefix)
