"""The `/metrics` endpoint: prometheus_client's threaded WSGI server on a port of our own."""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server


class MetricsHTTPServer:
    """A running metrics endpoint; `port` is the bound one (useful after asking for 0)."""

    def __init__(self, httpd: WSGIServer, thread: threading.Thread) -> None:
        self._httpd = httpd
        self._thread = thread
        self.host = str(httpd.server_address[0])
        self.port = int(httpd.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


def start_metrics_http(port: int, host: str, registry: CollectorRegistry) -> MetricsHTTPServer:
    """Serve `registry` at http://host:port/metrics from a daemon thread; port 0 picks one.

    The scrape runs on that thread, so collectors must not need the event loop's thread
    (see `live.loop_source`)."""
    httpd, thread = start_http_server(port, host, registry)
    return MetricsHTTPServer(httpd, thread)
