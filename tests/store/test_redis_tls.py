"""rediss:// with the CA and client certificate files of --redis-tls-ca/-cert/-key: the
store's connections reach a redis-server that requires TLS and client certificates, started
here with certificates made in the test run."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from cim_router.cli import parser, redis_settings
from cim_router.store import RedisSettings, RedisStore
from cim_router.store.embedded import find_redis_server, free_port
from tests.pki import CertificateAuthority


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority(tmp_path / "pki")


@pytest.fixture
def tls_redis(tmp_path: Path, ca: CertificateAuthority) -> Iterator[int]:
    binary = find_redis_server()
    issued = ca.server("redis")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(issued.cert_file), "--tls-key-file", str(issued.key_file),
         "--tls-ca-cert-file", str(ca.cert_file), "--tls-auth-clients", "yes",
         "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=(tmp_path / "redis.out").open("wb"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        client = ca.client("store")
        probe = redis.Redis(
            host="127.0.0.1",
            port=port,
            ssl=True,
            ssl_ca_certs=str(ca.cert_file),
            ssl_certfile=str(client.cert_file),
            ssl_keyfile=str(client.key_file),
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                probe.ping()
                break
            except redis.ConnectionError:
                out = (tmp_path / "redis.out").read_text(errors="replace")
                if proc.poll() is not None and ("Unrecognized" in out or "TLS" in out):
                    pytest.skip(f"this redis-server cannot serve TLS: {out[-200:]}")
                assert time.monotonic() < deadline, "TLS redis-server did not answer"
                time.sleep(0.05)
        probe.close()
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def _ping(settings: RedisSettings) -> bool:
    async def go() -> bool:
        store = RedisStore(settings)
        try:
            return bool(await store.redis.ping())
        finally:
            await store.redis.aclose()

    return asyncio.run(go())


def test_the_store_reaches_a_tls_redis_with_the_files_given(
    tls_redis: int, ca: CertificateAuthority
) -> None:
    client = ca.client("router")
    url = f"rediss://127.0.0.1:{tls_redis}/0"
    args = parser().parse_args(
        ["serve", "--redis-url", url, "--redis-tls-ca", str(ca.cert_file),
         "--redis-tls-cert", str(client.cert_file), "--redis-tls-key", str(client.key_file)]
    )  # fmt: skip
    settings = redis_settings(args, url)
    assert settings.connection_kwargs() == {
        "ssl_ca_certs": str(ca.cert_file),
        "ssl_certfile": str(client.cert_file),
        "ssl_keyfile": str(client.key_file),
    }
    assert _ping(settings)

    # Without a client certificate the server refuses the handshake.
    no_cert = RedisSettings.from_url(url, ssl_ca_certs=str(ca.cert_file), connect_timeout=2)
    with pytest.raises(redis.ConnectionError):
        _ping(no_cert)


def test_tls_files_need_a_rediss_url_and_come_in_pairs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rediss://"):
        RedisSettings.from_url("redis://127.0.0.1:1/0", ssl_ca_certs="ca.pem")
    with pytest.raises(ValueError, match="needs its key"):
        RedisSettings.from_url("rediss://127.0.0.1:1/0", ssl_certfile="c.pem")
    args = parser().parse_args(["serve", "--redis-tls-ca", "ca.pem"])
    with pytest.raises(SystemExit, match="rediss://"):
        redis_settings(args, "redis://127.0.0.1:1/0")
    assert RedisSettings.from_url("redis://127.0.0.1:1/0").connection_kwargs() == {}
