"""Prometheus exporter (``coldtier exporter``): every figure computed at scrape time.

Per table: watermark, lag, rows, files and snapshots; rows and bytes copied, failed runs, check
failures; maintenance results.

The metric names are listed in :mod:`coldtier_assets.metrics.families`; ``ops/`` holds the alert
rules, the Grafana dashboard and the runbooks over them.
"""

from __future__ import annotations

from coldtier_assets.metrics.collector import ColdtierCollector
from coldtier_assets.metrics.families import METRICS, MetricDef, exposed_names
from coldtier_assets.metrics.server import DEFAULT_PORT, ExporterServer, serve

__all__ = [
    "DEFAULT_PORT",
    "METRICS",
    "ColdtierCollector",
    "ExporterServer",
    "MetricDef",
    "exposed_names",
    "serve",
]
