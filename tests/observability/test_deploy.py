"""deploy/: the compose file, Prometheus config and Grafana dashboard agree with the code.

Docker is not needed: the files are parsed, and every metric the dashboard queries must be
one the Observer's registry exposes.
"""

from __future__ import annotations

import json
import re
import shutil
import ssl
import stat
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from cim_router.cli import SERVE_FLAGS
from cim_router.observability import LiveSnapshot, Observer, ObserverSettings
from cim_router.observability.http import MetricsAccess, start_metrics_http

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
METRICS_PORT = SERVE_FLAGS["metrics-port"][0]
GRPC_PORT = SERVE_FLAGS["grpc-port"][0]


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def exposed_names() -> set[str]:
    """Every sample name the Observer's registry can expose, from its families."""
    registry = CollectorRegistry()
    observer = Observer(registry, lambda _: 20.0, ObserverSettings(skill_labels=frozenset()))
    observer.set_snapshot_source(lambda: [LiveSnapshot("t", 0.0)])
    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_count", "_sum"),
        "gauge": ("",),
    }
    names = set()
    for family in registry.collect():
        for suffix in suffixes[family.type]:
            names.add(family.name + suffix)
    return names


def test_compose_runs_redis_the_router_prometheus_and_grafana() -> None:
    compose = _yaml(DEPLOY / "docker-compose.yml")
    services = compose["services"]
    assert set(services) == {"redis", "router", "prometheus", "grafana"}

    redis = services["redis"]
    assert redis["image"].startswith("redis:")
    assert redis["command"][-2:] == ["--appendonly", "yes"]

    router = services["router"]
    context = (DEPLOY / router["build"]["context"]).resolve()
    assert (context / router["build"]["dockerfile"]).is_file()
    assert (context / "pyproject.toml").is_file()
    command = router["command"]
    assert command[:2] == ["cim-router", "serve"]
    assert command[command.index("--redis-url") + 1] == "redis://redis:6379/0"
    assert command[command.index("--host") + 1] == "0.0.0.0"
    # Published on the host's loopback only: the demo's gRPC is unauthenticated (--insecure).
    assert set(router["ports"]) == {
        f"127.0.0.1:{GRPC_PORT}:{GRPC_PORT}",
        f"127.0.0.1:{METRICS_PORT}:{METRICS_PORT}",
    }
    assert "--insecure" in command

    assert services["prometheus"]["ports"] == ["9090:9090"]
    assert services["grafana"]["ports"] == ["3000:3000"]
    for name in ("prometheus", "grafana"):
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), volume


def test_prometheus_scrapes_the_router_metrics_port() -> None:
    config = _yaml(DEPLOY / "prometheus.yml")
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    targets = [t for sc in job["static_configs"] for t in sc["targets"]]
    assert targets == [f"router:{METRICS_PORT}"]


def _secret_path(service: dict[str, Any], path: str) -> str:
    """The compose secret a path under /run/secrets names, which the service must mount."""
    assert path.startswith("/run/secrets/"), path
    name = path.removeprefix("/run/secrets/")
    assert name in service["secrets"], (name, service["secrets"])
    return name


def test_prometheus_scrapes_over_tls_with_the_token_the_router_checks() -> None:
    compose = _yaml(DEPLOY / "docker-compose.yml")
    router, prometheus = compose["services"]["router"], compose["services"]["prometheus"]
    command = router["command"]

    def flag(name: str) -> str:
        return _secret_path(router, command[command.index(name) + 1])

    (job,) = _yaml(DEPLOY / "prometheus.yml")["scrape_configs"]
    assert job["scheme"] == "https"
    assert job["authorization"]["type"] == "Bearer"
    token = _secret_path(prometheus, job["authorization"]["credentials_file"])
    assert token == flag("--metrics-token-file")
    ca = _secret_path(prometheus, job["tls_config"]["ca_file"])
    assert job["tls_config"]["server_name"] == "router"
    secrets = compose["secrets"]
    for name in (ca, token, flag("--metrics-tls-cert"), flag("--metrics-tls-key")):
        assert secrets[name]["file"].startswith("./secrets/"), name
    assert "deploy/secrets/" in (DEPLOY.parent / ".gitignore").read_text().splitlines()


def test_make_secrets_makes_what_prometheus_and_the_router_need(tmp_path: Path) -> None:
    if not shutil.which("openssl"):
        pytest.skip("deploy/make-secrets needs openssl")
    out = tmp_path / "secrets"
    subprocess.run([str(DEPLOY / "make-secrets"), str(out)], check=True, capture_output=True)
    secrets = _yaml(DEPLOY / "docker-compose.yml")["secrets"]
    for entry in secrets.values():
        assert (out / Path(entry["file"]).name).is_file(), entry
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    token = (out / "metrics-token").read_text().strip()
    assert len(token) >= 32
    # The router's endpoint with these files answers Prometheus's way of asking, and only it.
    access = MetricsAccess(out / "metrics.crt", out / "metrics.key", out / "metrics-token")
    server = start_metrics_http(0, "127.0.0.1", CollectorRegistry(), access)
    try:
        context = ssl.create_default_context(cafile=str(out / "ca.crt"))
        url = f"https://localhost:{server.port}/metrics"
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            assert response.status == 200
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=5, context=context)
        assert refused.value.code == 401
    finally:
        server.close()


def test_grafana_provisions_the_datasource_and_the_dashboard_folder() -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    (source,) = _yaml(provisioning / "datasources" / "prometheus.yml")["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    (provider,) = _yaml(provisioning / "dashboards" / "cim-router.yml")["providers"]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    compose = _yaml(DEPLOY / "docker-compose.yml")
    assert (
        "./grafana/dashboards:/var/lib/grafana/dashboards:ro"
        in (compose["services"]["grafana"]["volumes"])
    )


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (DEPLOY / "grafana" / "dashboards" / "cim-router.json").read_text(encoding="utf-8")
    )
    return data


def test_every_dashboard_panel_queries_prometheus() -> None:
    panels = dashboard()["panels"]
    assert len(panels) >= 10
    for panel in panels:
        assert panel["datasource"]["uid"] == "prometheus", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert "cim_router_" in target["expr"], panel["title"]
            assert target["expr"].count("(") == target["expr"].count(")"), panel["title"]


def test_every_metric_in_the_dashboard_is_exposed() -> None:
    exprs = [t["expr"] for p in dashboard()["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\bcim_router_[a-z0-9_]+", e)}
    exposed = exposed_names()
    assert used - exposed == set()
    # The panels the operations team asked for are all there.
    for must in (
        "cim_router_waiting_interactions",
        "cim_router_service_level_ratio",
        "cim_router_average_speed_of_answer_seconds",
        "cim_router_interactions_abandoned_total",
        "cim_router_capacity_busy",
        "cim_router_decision_seconds_bucket",
        "cim_router_grpc_requests_total",
        "cim_router_redis_roundtrip_seconds_bucket",
    ):
        assert must in used, must
    quantiles = [e for e in exprs if "histogram_quantile" in e and "decision_seconds" in e]
    assert {e.split(",")[0] for e in quantiles} == {
        "histogram_quantile(0.5",
        "histogram_quantile(0.99",
    }


def test_the_exposed_names_follow_prometheus_conventions() -> None:
    names = exposed_names()
    assert all(n.startswith("cim_router_") for n in names)
    histograms = {n.removesuffix("_bucket") for n in names if n.endswith("_bucket")}
    # Durations in seconds; the one unitless histogram is the CSAT score.
    assert {h for h in histograms if not h.endswith("_seconds")} == {"cim_router_csat_score"}
    assert "cim_router_decision_seconds" in histograms
