"""The exporter's HTTP server: ``/metrics`` in the Prometheus text format, one collector behind it."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from coldtier_assets.config import Settings
from coldtier_assets.metrics.collector import ColdtierCollector

DEFAULT_PORT = 9464


@dataclass
class ExporterServer:
    """A running exporter: its address, its collector, and how to stop it."""

    host: str
    port: int
    collector: ColdtierCollector
    server: WSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        """The metrics URL."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def shutdown(self) -> None:
        """Stop serving and release the port."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C in the CLI)."""
        while self.thread.is_alive():
            self.thread.join(timeout=1.0)


def serve(
    settings: Settings,
    port: int = DEFAULT_PORT,
    host: str = "127.0.0.1",
    *,
    cache_seconds: float = 5.0,
    warm_lock_timeout_seconds: float = 5.0,
) -> ExporterServer:
    """Start serving ``/metrics`` on ``host:port`` in a background thread (port 0: any free port)."""
    collector = ColdtierCollector(
        settings, cache_seconds=cache_seconds, warm_lock_timeout_seconds=warm_lock_timeout_seconds
    )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    server, thread = start_http_server(port, addr=host, registry=registry)
    return ExporterServer(host, int(server.server_port), collector, server, thread)
