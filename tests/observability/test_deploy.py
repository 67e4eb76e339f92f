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
from cim_router.observability.measure_gauges import labelled

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


def graphs() -> list[dict[str, Any]]:
    """The panels that query (rows only group them)."""
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def test_every_dashboard_panel_queries_prometheus() -> None:
    panels = graphs()
    assert len(panels) >= 10
    for panel in panels:
        assert panel["datasource"]["uid"] == "prometheus", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert "cim_router_" in target["expr"], panel["title"]
            assert target["expr"].count("(") == target["expr"].count(")"), panel["title"]


def test_every_metric_in_the_dashboard_is_exposed() -> None:
    exprs = [t["expr"] for p in graphs() for t in p["targets"]]
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


# --- the queries: PromQL-ish, reading 0 when nothing happened, one row per queue ---------------

FUNCTIONS = {"histogram_quantile", "rate", "increase", "vector", "label_replace", "label_values"}
AGGREGATIONS = {"sum", "max", "min", "avg", "count"}
KEYWORDS = {"by", "without", "on", "ignoring", "or", "and", "unless"}
LABELS = {"le", "tenant", "channel", "state", "skill", "method", "code", "op", "queue"}
PAIRS = {"(": ")", "[": "]", "{": "}"}
TOKEN = re.compile(
    r'\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)|(?P<str>"[^"]*")'
    r"|(?P<op>=~|!~|!=|==|[-+*/=,()\[\]{}])|(?P<var>\$[a-z_]+))"
)


def promql_problems(expr: str, exposed: set[str]) -> list[str]:
    """What is wrong with `expr` as PromQL, as far as a small tokenizer sees: unbalanced
    brackets, unknown functions, unexposed metrics, durations that are not durations,
    label matchers that are not `label op "value"`."""
    problems: list[str] = []
    stack: list[str] = []
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(expr.rstrip()):
        m = TOKEN.match(expr, pos)
        if m is None or m.end() == pos:
            return [f"cannot read {expr[pos:]!r}"]
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    for k, (kind, text) in enumerate(tokens):
        following = tokens[k + 1][1] if k + 1 < len(tokens) else ""
        inside = stack[-1] if stack else ""
        if text in PAIRS:
            stack.append(text)
            if text == "[":
                duration = "".join(t for _, t in tokens[k + 1 : k + 3])
                if not re.fullmatch(r"\d+[smhdwy]", duration):
                    problems.append(f"bad range [{duration}")
            if text == "{":
                end = next(j for j in range(k, len(tokens)) if tokens[j][1] == "}")
                matchers = "".join(t for _, t in tokens[k + 1 : end])
                if not re.fullmatch(r'([a-z_]+(=|!=|=~|!~)"[^"]*",?)+', matchers):
                    problems.append(f"bad label matchers {{{matchers}}}")
        elif text in PAIRS.values():
            if not stack or PAIRS[stack.pop()] != text:
                problems.append(f"unbalanced {text!r}")
        elif kind == "name" and inside not in ("{", "["):
            if text.startswith("cim_router_"):
                if text not in exposed:
                    problems.append(f"unknown metric {text}")
            elif following == "(":
                if text not in FUNCTIONS | AGGREGATIONS | KEYWORDS:
                    problems.append(f"unknown function {text}")
            elif text not in KEYWORDS | LABELS | AGGREGATIONS:
                problems.append(f"unknown name {text}")
    if stack:
        problems.append(f"unclosed {''.join(stack)}")
    return problems


def test_promql_problems_finds_broken_queries() -> None:
    exposed = {"cim_router_offers_total"}
    assert promql_problems("sum(rate(cim_router_offers_total[5m])) or vector(0)", exposed) == []
    for bad in (
        "sum(rate(cim_router_offers_total[5m])",
        "sum(rate(cim_router_offers_total[5m)))",
        "sum(rate(cim_router_offerz_total[5m]))",
        "sum(rat(cim_router_offers_total[5m]))",
        "sum(rate(cim_router_offers_total[5 minutes]))",
        'sum(cim_router_offers_total{code=OK"})',
    ):
        assert promql_problems(bad, exposed), bad


def test_every_dashboard_query_is_promql_over_exposed_metrics() -> None:
    exposed = exposed_names()
    for panel in graphs():
        for target in panel["targets"]:
            assert promql_problems(target["expr"], exposed) == [], (panel["title"], target)
    for variable in dashboard()["templating"]["list"]:
        query = variable["query"]["query"]
        assert promql_problems(query, exposed) == [], variable["name"]


# Counters whose series appear only at their first increment: without a fallback their
# panels show "No data" instead of 0 when nothing happened.
READ_ZERO = re.compile(r"\bor (on\(\) )?vector\(0\)$")


def _exprs_using(pattern: str) -> list[str]:
    return [t["expr"] for p in graphs() for t in p["targets"] if re.search(pattern, t["expr"])]


@pytest.mark.parametrize(
    "pattern",
    [
        r"cim_router_offers_rejected_total",
        r"cim_router_offers_expired_total",
        r'cim_router_grpc_requests_total\{code!="OK"\}',
        r"cim_router_redis_errors_total",
    ],
)
def test_counters_of_rare_events_read_zero_when_nothing_happened(pattern: str) -> None:
    exprs = _exprs_using(pattern)
    assert exprs, pattern
    for expr in exprs:
        assert READ_ZERO.search(expr), expr
        if " by (" in expr.split(" or ")[0]:  # grouped: the 0 only when no group has data
            assert expr.endswith(" or on() vector(0)"), expr


def test_first_contact_resolution_is_not_a_fake_one() -> None:
    (panel,) = [
        p
        for p in graphs()
        if "first-contact" in p["description"].lower() or "FCR" in p["description"]
    ]
    (fcr,) = [t["expr"] for t in panel["targets"] if "repeat_contacts" in t["expr"]]
    assert fcr.startswith("1 - ") and "vector(0)" not in fcr
    assert "cim_router_interactions_completed_total" in fcr
    assert "no data" in panel["description"].lower()


def queue_labelled() -> set[str]:
    """The metrics that carry a `queue` label."""
    return labelled("queue")


def test_the_dashboard_has_a_row_per_queue() -> None:
    d = dashboard()
    (variable,) = [v for v in d["templating"]["list"] if v["name"] == "queue"]
    assert re.fullmatch(r"label_values\(cim_router_[a-z_]+, queue\)", variable["query"]["query"])
    assert variable["includeAll"] and variable["multi"]
    panels = d["panels"]
    (k,) = [k for k, p in enumerate(panels) if p["type"] == "row" and p.get("repeat") == "queue"]
    row = panels[k]
    assert "$queue" in row["title"] and not row["collapsed"]
    in_row = []
    for p in panels[k + 1 :]:
        if p["type"] == "row":
            break
        in_row.append(p)
    used = {
        m for p in in_row for t in p["targets"] for m in re.findall(r"cim_router_\w+", t["expr"])
    }
    for must in (
        "cim_router_queue_waiting_interactions",
        "cim_router_queue_service_level_ratio",
        "cim_router_queue_average_speed_of_answer_seconds",
        "cim_router_queue_abandonment_ratio",
        "cim_router_queue_open",
    ):
        assert must in used, must
    # A selector on `queue` matches nothing on a metric without that label.
    assert used <= queue_labelled(), used - queue_labelled()
    for p in in_row:
        assert p["gridPos"]["y"] > row["gridPos"]["y"], p["title"]
        for t in p["targets"]:
            for selector in re.findall(r"cim_router_\w+(\{[^}]*\})?", t["expr"]):
                assert 'queue="$queue"' in selector, (p["title"], t["expr"])
