"""The Prometheus collector: fresh figures at scrape time, cached for a few seconds.

Sources, each read on its own so one failing source does not blank the others
(``coldtier_exporter_source_up{source}`` says which one failed):

* ``catalog`` + ``warm`` — :func:`coldtier_assets.offload.status.collect_status`, the same figures as
  `coldtier status`. In embedded mode the warm tier is behind a cross-process lock that an offload
  may hold: the exporter waits a few seconds at most, then reports the cold figures without the
  warm row counts rather than stalling the scrape (lag alerts must not go blind).
* ``dagster`` — the Dagster instance in ``DAGSTER_HOME`` (skipped while it does not exist).
* ``maintenance`` — ``maintenance_audit_log`` in the catalog database (tolerated missing).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError

from coldtier_assets.config import Settings
from coldtier_assets.metrics.dagster_source import DagsterSource
from coldtier_assets.metrics.families import METRICS
from coldtier_assets.metrics.maintenance_source import MaintenanceSource
from coldtier_assets.offload.status import TableStatus, collect_status
from coldtier_assets.resources.clickhouse import WarmQueries
from coldtier_assets.resources.iceberg import open_catalog
from coldtier_assets.resources.warm_reader import IsolatedWarmReader
from coldtier_assets.tables import TABLES_BY_NAME

log = logging.getLogger(__name__)

SOURCES = ("catalog", "warm", "dagster", "maintenance")


class _WarmSkipped(WarmQueries):
    """A warm tier that reports no tables: `collect_status` then gives the cold figures only."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def session(self) -> AbstractContextManager[object]:
        """Nothing to open."""
        return nullcontext()

    def table_exists(self, table: str) -> bool:
        return False


class _Families:
    """The metric families of one refresh, by name (every family is served, even without samples)."""

    def __init__(self) -> None:
        self.by_name: dict[str, Metric] = {metric.name: metric.family() for metric in METRICS}

    def add(self, name: str, labels: Iterable[str], value: float | None) -> None:
        if value is None:
            return
        family = self.by_name[name]
        assert isinstance(family, GaugeMetricFamily | CounterMetricFamily), name
        family.add_metric(list(labels), float(value))


class ColdtierCollector(Collector):
    """Computes every ``coldtier_*`` metric when scraped; repeated scrapes within ``cache_seconds`` share one result."""

    def __init__(
        self,
        settings: Settings,
        *,
        cache_seconds: float = 5.0,
        warm_lock_timeout_seconds: float = 5.0,
        catalog_factory: Callable[[], Catalog] | None = None,
    ) -> None:
        self.settings = settings
        self.cache_seconds = cache_seconds
        # A child process per refresh when embedded: the exporter lives for months (see warm_reader).
        self.warm = IsolatedWarmReader(settings.warm_dsn, lock_timeout_seconds=warm_lock_timeout_seconds)
        self._catalog_factory = catalog_factory or (lambda: open_catalog(settings))
        self._catalog: Catalog | None = None
        self.dagster = DagsterSource(settings)
        self.maintenance = MaintenanceSource(settings)
        self._lock = threading.Lock()
        self._cached: list[Metric] | None = None
        self._cached_at = 0.0

    def describe(self) -> list[Metric]:
        """The families served (without samples), so registering does not compute anything."""
        return [metric.family() for metric in METRICS]

    def collect(self) -> Iterator[Metric]:
        """The figures, recomputed when older than ``cache_seconds``."""
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached_at >= self.cache_seconds:
                self._cached = self.refresh()
                self._cached_at = time.monotonic()
            cached = self._cached
        return iter(cached)

    def refresh(self) -> list[Metric]:
        """Read every source now and build the metric families."""
        started = time.perf_counter()
        now = datetime.now(UTC)
        families = _Families()
        up = dict.fromkeys(SOURCES, True)
        up["catalog"], up["warm"] = self._tables(families, now)
        up["dagster"] = self._dagster(families)
        up["maintenance"] = self._maintenance(families)
        for source, ok in up.items():
            families.add("coldtier_exporter_source_up", [source], 1.0 if ok else 0.0)
        families.add("coldtier_exporter_up", [], 1.0 if all(up.values()) else 0.0)
        families.add("coldtier_exporter_last_refresh_timestamp_seconds", [], now.timestamp())
        families.add("coldtier_exporter_scrape_duration_seconds", [], time.perf_counter() - started)
        return list(families.by_name.values())

    # ---------------------------------------------------------------------------------------------

    def catalog(self) -> Catalog:
        """The Iceberg catalog, opened on first use and kept."""
        if self._catalog is None:
            self._catalog = self._catalog_factory()
        return self._catalog

    def _statuses(self, now: datetime) -> tuple[list[TableStatus], bool]:
        catalog = self.catalog()
        try:
            return collect_status(self.warm, catalog, self.settings.namespace, now), True
        except Exception as error:  # warm tier busy (lock) or down: keep the cold figures
            log.warning("warm tier unavailable for this scrape: %s", error)
            skipped = _WarmSkipped(self.settings.warm_dsn)
            return collect_status(skipped, catalog, self.settings.namespace, now), False

    def _data_bytes(self, name: str) -> int | None:
        try:
            table = self.catalog().load_table((self.settings.namespace, name))
        except NoSuchTableError:
            return None
        snapshot = table.current_snapshot()
        summary = snapshot.summary.additional_properties if snapshot and snapshot.summary else {}
        return int(summary.get("total-files-size", 0))

    def _tables(self, families: _Families, now: datetime) -> tuple[bool, bool]:
        try:
            statuses, warm_ok = self._statuses(now)
            data_bytes = {status.table: self._data_bytes(status.table) for status in statuses}
        except Exception:
            log.exception("cannot read the cold tier's status")
            self._catalog = None
            return False, False
        lateness = self.settings.allowed_lateness.total_seconds()
        for status in statuses:
            labels = [status.table, status.layer]
            window = TABLES_BY_NAME[status.table].window(self.settings.window).total_seconds()
            families.add("coldtier_table_window_seconds", labels, window)
            if status.watermark is not None:
                watermark = status.watermark.timestamp()
                families.add("coldtier_table_watermark_timestamp_seconds", labels, watermark)
                families.add(
                    "coldtier_table_lag_seconds", labels, status.lag.total_seconds() if status.lag else 0
                )
                overdue = now.timestamp() - (watermark + window + lateness)
                families.add("coldtier_table_overdue_seconds", labels, max(0.0, overdue))
            families.add("coldtier_table_rows", [*labels, "warm"], status.warm_rows)
            families.add("coldtier_table_rows", [*labels, "cold"], status.cold_rows)
            families.add("coldtier_table_data_files", labels, status.files)
            families.add("coldtier_table_data_bytes", labels, data_bytes.get(status.table))
            families.add("coldtier_table_snapshots", labels, status.snapshots)
            families.add("coldtier_table_rejected_trades", labels, status.rejected)
        return True, warm_ok

    def _dagster(self, families: _Families) -> bool:
        if not self.dagster.available():
            return True  # Dagster has not run here (no DAGSTER_HOME): nothing to report
        try:
            figures = self.dagster.read()
        except Exception:
            log.exception("cannot read the Dagster instance in %s", self.dagster.home)
            self.dagster.reset()
            return False
        for name, totals in figures.copies.items():
            labels = [name, TABLES_BY_NAME[name].layer]
            families.add("coldtier_offload_rows_copied_total", labels, totals.rows)
            families.add("coldtier_offload_bytes_copied_total", labels, totals.bytes)
            families.add("coldtier_offload_duration_seconds_total", labels, totals.seconds)
            families.add("coldtier_offload_materializations_total", labels, totals.materializations)
            families.add(
                "coldtier_offload_last_materialization_timestamp_seconds", labels, totals.last_timestamp
            )
            families.add(
                "coldtier_offload_runs_failed_total", labels, figures.failed_runs_by_table.get(name, 0)
            )
            failing = sum(check.failed for (table, _), check in figures.checks.items() if table == name)
            families.add("coldtier_checks_failed", labels, failing)
        for job, count in sorted(figures.failed_runs_by_job.items()):
            families.add("coldtier_dagster_runs_failed_total", [job], count)
        for (table, check), check_figures in sorted(figures.checks.items()):
            labels = [table, TABLES_BY_NAME[table].layer, check]
            families.add("coldtier_check_failed_partitions", labels, check_figures.failed)
            families.add("coldtier_check_evaluated_partitions", labels, check_figures.evaluated)
        return True

    def _maintenance(self, families: _Families) -> bool:
        try:
            figures = self.maintenance.read()
        except Exception:
            log.exception("cannot read %s", "maintenance_audit_log")
            self.maintenance.reset()
            return False
        families.add("coldtier_maintenance_audit_log_present", [], 1.0 if figures.present else 0.0)
        for run in figures.latest:
            labels = [run.table, run.action]
            families.add(
                "coldtier_maintenance_last_success", labels, 1.0 if run.outcome == "success" else 0.0
            )
            families.add("coldtier_maintenance_last_outcome", [*labels, run.outcome], 1.0)
            families.add("coldtier_maintenance_last_run_timestamp_seconds", labels, run.started_at)
            families.add("coldtier_maintenance_last_duration_seconds", labels, run.duration_seconds)
            for metric, (before, after) in (
                ("coldtier_maintenance_last_files", run.files),
                ("coldtier_maintenance_last_bytes", run.bytes),
                ("coldtier_maintenance_last_rows", run.rows),
            ):
                families.add(metric, [*labels, "before"], before)
                families.add(metric, [*labels, "after"], after)
        for (table, action, outcome), count in sorted(figures.runs.items()):
            families.add("coldtier_maintenance_runs_total", [table, action, outcome], count)
        return True
