"""Observability: Prometheus metrics, the gRPC metrics interceptor and structured logs."""

from cim_router.observability.http import MetricsHTTPServer, start_metrics_http
from cim_router.observability.interceptor import MetricsInterceptor
from cim_router.observability.live import LiveSnapshot, live_snapshot, router_snapshots
from cim_router.observability.logs import JsonFormatter, configure_logging
from cim_router.observability.metrics import Observer, ObserverSettings

__all__ = [
    "JsonFormatter",
    "LiveSnapshot",
    "MetricsHTTPServer",
    "MetricsInterceptor",
    "Observer",
    "ObserverSettings",
    "configure_logging",
    "live_snapshot",
    "router_snapshots",
    "start_metrics_http",
]
