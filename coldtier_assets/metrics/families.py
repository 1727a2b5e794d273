"""Every metric the exporter serves: name, type, help and labels — the one list ops/ is checked against."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

TABLE = ("table", "layer")


@dataclass(frozen=True)
class MetricDef:
    """One metric family the exporter serves."""

    name: str
    kind: Literal["gauge", "counter"]
    help: str
    labels: tuple[str, ...]

    def family(self) -> Metric:
        """An empty family of this metric, to add samples to."""
        if self.kind == "counter":
            return CounterMetricFamily(self.name, self.help, labels=self.labels)
        return GaugeMetricFamily(self.name, self.help, labels=self.labels)


def _gauge(name: str, help_text: str, labels: tuple[str, ...] = ()) -> MetricDef:
    return MetricDef(name, "gauge", help_text, labels)


def _counter(name: str, help_text: str, labels: tuple[str, ...] = ()) -> MetricDef:
    return MetricDef(name, "counter", help_text, labels)


METRICS: tuple[MetricDef, ...] = (
    # per table, from `coldtier status` (Iceberg metadata and ClickHouse)
    _gauge(
        "coldtier_table_watermark_timestamp_seconds",
        "End of the table's contiguous run of committed windows (Unix time).",
        TABLE,
    ),
    _gauge("coldtier_table_lag_seconds", "Now minus the table's watermark.", TABLE),
    _gauge(
        "coldtier_table_overdue_seconds",
        "Seconds since the oldest uncopied window became copyable (window end + allowed lateness); "
        "0 when every copyable window is copied. Lag beyond the schedule: what the lag alerts watch.",
        TABLE,
    ),
    _gauge("coldtier_table_window_seconds", "Offload window length of the table.", TABLE),
    _gauge(
        "coldtier_table_rows",
        "Rows of the table per tier (warm: ClickHouse, FINAL; cold: Iceberg current snapshot).",
        (*TABLE, "tier"),
    ),
    _gauge("coldtier_table_data_files", "Data files in the cold table's current snapshot.", TABLE),
    _gauge(
        "coldtier_table_data_bytes", "Bytes of the data files in the cold table's current snapshot.", TABLE
    ),
    _gauge("coldtier_table_snapshots", "Snapshots in the cold table's metadata.", TABLE),
    _gauge(
        "coldtier_table_rejected_trades",
        "Trades quarantined in rejected_trades (warm tier, FINAL): a Bronze table's own, all for rejected_trades.",
        TABLE,
    ),
    # per table, from the Dagster instance
    _counter(
        "coldtier_offload_rows_copied_total",
        "Rows copied to the cold table (metadata 'rows' of its materializations).",
        TABLE,
    ),
    _counter(
        "coldtier_offload_bytes_copied_total",
        "Parquet bytes written to the cold table (metadata 'bytes' of its materializations).",
        TABLE,
    ),
    _counter(
        "coldtier_offload_duration_seconds_total",
        "Seconds spent copying windows of the table (metadata 'duration_s' of its materializations).",
        TABLE,
    ),
    _counter("coldtier_offload_materializations_total", "Materializations of the cold table.", TABLE),
    _gauge(
        "coldtier_offload_last_materialization_timestamp_seconds",
        "Time of the cold table's latest materialization (Unix time).",
        TABLE,
    ),
    _counter(
        "coldtier_offload_runs_failed_total",
        "Failed Dagster runs that targeted the cold table.",
        TABLE,
    ),
    _counter(
        "coldtier_dagster_runs_failed_total",
        "Failed Dagster runs per job (label dagster_job: Prometheus keeps `job` for the scrape job).",
        ("dagster_job",),
    ),
    _gauge(
        "coldtier_check_failed_partitions",
        "Partitions whose latest evaluation of the asset check failed.",
        (*TABLE, "check"),
    ),
    _gauge(
        "coldtier_check_evaluated_partitions",
        "Partitions with a completed evaluation of the asset check.",
        (*TABLE, "check"),
    ),
    _gauge(
        "coldtier_checks_failed",
        "Failing (check, partition) pairs of the table, all checks together (latest evaluation each).",
        TABLE,
    ),
    # maintenance, from the maintenance_audit_log table of the catalog database
    _gauge(
        "coldtier_maintenance_audit_log_present",
        "1 when the catalog database holds the maintenance_audit_log table.",
    ),
    _gauge(
        "coldtier_maintenance_last_success",
        "1 when the latest run of the maintenance action on the table succeeded, else 0.",
        ("table", "action"),
    ),
    _gauge(
        "coldtier_maintenance_last_outcome",
        "1 for the outcome (success, failed, skipped) of the latest run of the action on the table.",
        ("table", "action", "outcome"),
    ),
    _gauge(
        "coldtier_maintenance_last_run_timestamp_seconds",
        "Start of the latest run of the maintenance action on the table (Unix time).",
        ("table", "action"),
    ),
    _gauge(
        "coldtier_maintenance_last_duration_seconds",
        "Duration of the latest run of the maintenance action on the table.",
        ("table", "action"),
    ),
    *(
        _gauge(
            f"coldtier_maintenance_last_{figure}",
            f"{what} before and after the latest run of the maintenance action.",
            ("table", "action", "stage"),
        )
        for figure, what in (("files", "Data files"), ("bytes", "Data bytes"), ("rows", "Rows"))
    ),
    _counter(
        "coldtier_maintenance_runs_total",
        "Maintenance runs recorded in the audit log, per outcome.",
        ("table", "action", "outcome"),
    ),
    # the exporter itself
    _gauge("coldtier_exporter_up", "1 when every source was read on the latest refresh, else 0."),
    _gauge(
        "coldtier_exporter_source_up",
        "1 when the source (catalog, warm, dagster, maintenance) was read on the latest refresh.",
        ("source",),
    ),
    _gauge("coldtier_exporter_scrape_duration_seconds", "Seconds the latest refresh of the figures took."),
    _gauge(
        "coldtier_exporter_last_refresh_timestamp_seconds",
        "When the figures were last computed (they are cached for a few seconds).",
    ),
)

METRICS_BY_NAME: dict[str, MetricDef] = {metric.name: metric for metric in METRICS}


def exposed_names() -> set[str]:
    """Every series name the exporter can serve (counters as ``*_total``)."""
    return set(METRICS_BY_NAME)
