"""What every cold asset shares: keys, specs, running an offload and its materialization metadata."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.types import NestedField

from coldtier_assets.config import Settings
from coldtier_assets.ddl import iceberg_ddl
from coldtier_assets.defs.assets.keys import cold_key, warm_key
from coldtier_assets.defs.checks.asset_checks import (
    CheckOutcome,
    check_specs,
    evaluate_checks,
    span_of,
    upstream_problems,
)
from coldtier_assets.defs.checks.partition_results import partition_check_events
from coldtier_assets.defs.partitions import duration_words, partitions_for
from coldtier_assets.defs.resources import ColdtierResource
from coldtier_assets.offload.pipeline import OffloadReport
from coldtier_assets.offload.quarantine import rejected_in
from coldtier_assets.tables import REJECTED_TABLE, TableSpec

#: Run tag (``true``) that lets a run replace cold windows the purge guard would refuse to shrink.
FORCE_TAG = "coldtier/force"

LAYER_DESCRIPTIONS = {
    "bronze": "each exchange's native trade fields, as received",
    "silver": "every exchange's trades in one normalized schema",
    "gold": "OHLCV candles per exchange and symbol",
    REJECTED_TABLE: "quarantined Bronze trades that break the trade rule, with the reasons",
}


def layer_description(spec: TableSpec) -> str:
    """What the table holds, in words: its own description, else its layer's (Gold names its candle)."""
    if spec.name in LAYER_DESCRIPTIONS:
        return LAYER_DESCRIPTIONS[spec.name]
    if spec.layer == "gold":
        return f"OHLCV candles of {duration_words(timedelta(seconds=spec.candle_seconds))} per exchange and symbol"
    return LAYER_DESCRIPTIONS[spec.layer]


def freshness_policy(spec: TableSpec, settings: Settings) -> dg.FreshnessPolicy:
    """Warn after 15 minutes, fail after 30 — counted after the table's window when it is longer.

    A daily candle table is only materialized once a day, so its windows start counting when the
    next window is due rather than failing every day at 00:30.
    """
    window = spec.window(settings.window)
    slack = window - settings.window if window > settings.window else timedelta(0)
    return dg.FreshnessPolicy.time_window(
        warn_window=timedelta(minutes=15) + slack, fail_window=timedelta(minutes=30) + slack
    )


def warm_spec(spec: TableSpec) -> dg.AssetSpec:
    """The ClickHouse table as an external asset (kind ``clickhouse``)."""
    return dg.AssetSpec(
        key=warm_key(spec),
        kinds={"clickhouse"},
        group_name="warm",
        description=f"ClickHouse {spec.layer} table `{spec.name}` ({layer_description(spec)}); warm tier.",
        metadata={"table": spec.name, "time_column": spec.time_column},
    )


def table_checks(spec: TableSpec, settings: Settings) -> list[dg.AssetCheckSpec]:
    """The asset checks of one cold table (re-exported for the asset modules)."""
    return check_specs(spec, settings)


def cold_spec(spec: TableSpec, settings: Settings) -> dg.AssetSpec:
    """The cold Iceberg twin: depends on its ClickHouse source and on its upstream cold tables."""
    upstream = [cold_key(name) for name in spec.upstream]
    return dg.AssetSpec(
        key=cold_key(spec),
        deps=[warm_key(spec), *upstream],
        kinds={"iceberg"},
        group_name=spec.layer,
        partitions_def=partitions_for(spec, settings),
        freshness_policy=freshness_policy(spec, settings),
        description=(
            f"Iceberg table `{settings.namespace}.{spec.name}` ({layer_description(spec)}), copied "
            f"from ClickHouse exactly once, in windows of {duration_words(spec.window(settings.window))} of "
            f"`{spec.time_column}`, each window {duration_words(settings.allowed_lateness)} after it closes."
        ),
        metadata={
            "natural_key": ", ".join(spec.natural_key),
            "time_column": spec.time_column,
            "dagster/table_name": f"{settings.namespace}.{spec.name}",
            "dagster/column_schema": column_schema(iceberg_ddl(spec).schema),
        },
    )


def column_schema(schema: Schema) -> dg.TableSchema:
    """Iceberg columns (with their docs from ``ddl/``) as a Dagster table schema."""

    def column(field: NestedField) -> dg.TableColumn:
        return dg.TableColumn(
            name=field.name,
            type=str(field.field_type),
            description=field.doc,
            constraints=dg.TableColumnConstraints(nullable=not field.required),
        )

    return dg.TableSchema(columns=[column(field) for field in schema.fields])


def materialization_metadata(
    report: OffloadReport, table: Table, now: datetime
) -> dict[str, dg.RawMetadataValue]:
    """Rows, bytes, files, snapshot, window, checksum, duration, lag, schema and location of one run."""
    results = report.results
    snapshot = table.current_snapshot()
    summary = snapshot.summary.additional_properties if snapshot and snapshot.summary else {}
    metadata: dict[str, dg.RawMetadataValue] = {
        "rows": dg.MetadataValue.int(report.rows),
        "bytes": dg.MetadataValue.int(report.bytes),
        "files": dg.MetadataValue.int(report.files),
        "commits": dg.MetadataValue.int(report.commits),
        # Commits that lost a race to another writer (e.g. a concurrent run) and were retried.
        "conflict_retries": dg.MetadataValue.int(sum(result.attempts - 1 for result in results)),
        "snapshot_id": dg.MetadataValue.text(str(results[-1].snapshot_id) if results else "none"),
        "window_start": dg.MetadataValue.text(results[0].window.start.isoformat() if results else ""),
        "window_end": dg.MetadataValue.text(results[-1].window.end.isoformat() if results else ""),
        "source_checksum": dg.MetadataValue.text(
            ", ".join(result.checksum_hex for result in results if result.rows) or "empty"
        ),
        "duration_s": dg.MetadataValue.float(round(sum(result.seconds for result in results), 3)),
        "watermark": dg.MetadataValue.text(report.watermark.isoformat() if report.watermark else "none"),
        "lag_s": dg.MetadataValue.float(
            round((now - report.watermark).total_seconds(), 1) if report.watermark else -1.0
        ),
        "iceberg_location": dg.MetadataValue.path(table.location()),
        "dagster/column_schema": column_schema(table.schema()),
    }
    if "total-records" in summary:
        metadata["dagster/row_count"] = dg.MetadataValue.int(int(summary["total-records"]))
    return metadata


def copy_and_check(
    context: dg.AssetExecutionContext, coldtier: ColdtierResource, spec: TableSpec
) -> tuple[list[dg.MaterializeResult], list[CheckOutcome]]:
    """Copy the run's partitions of one table (if selected), then evaluate its selected checks.

    Safe to run in a worker thread: it records nothing in Dagster itself (the caller yields).
    """
    span = span_of(context)
    materialized: list[dg.MaterializeResult] = []
    if cold_key(spec) in context.selected_asset_keys:
        problems = upstream_problems(context.instance, coldtier, spec, span)
        if problems:
            raise dg.Failure(
                description=f"{spec.name} waits for its upstream tables: " + "; ".join(problems),
                allow_retries=False,
            )
        force = context.run.tags.get(FORCE_TAG, "").lower() == "true"  # the operator really means it
        report = coldtier.offloader(force=force).offload(
            spec, span.start, span.end, run_id=context.run.run_id
        )
        table = coldtier.catalog().load_table((coldtier.settings.namespace, spec.name))
        metadata = materialization_metadata(report, table, datetime.now(UTC))
        rejected = rejected_in(coldtier.warm, spec, span)
        if rejected is not None:  # Bronze (its exchange) and Silver (all): trades quarantined in the span
            metadata["rejected_rows"] = dg.MetadataValue.int(rejected)
        context.log.info(
            f"{spec.name} [{span.start:%Y-%m-%d %H:%M}, {span.end:%Y-%m-%d %H:%M}): {report.rows} rows in "
            f"{report.commits} commit(s); watermark {report.watermark}"
        )
        materialized.append(dg.MaterializeResult(asset_key=cold_key(spec), metadata=metadata))
    selected = {key for key in context.selected_asset_check_keys if key.asset_key == cold_key(spec)}
    outcomes = list(evaluate_checks(selected, coldtier, spec, span)) if selected else []
    return materialized, outcomes


def materialize_table(
    context: dg.AssetExecutionContext, coldtier: ColdtierResource, spec: TableSpec
) -> Iterator[dg.MaterializeResult | dg.AssetCheckEvaluation | dg.Output[None]]:
    """Copy and check one table; check results are recorded per partition (see ``partition_results``).

    The materialization is yielded first, so Dagster stores it before the check evaluations that
    target it are built.
    """
    materialized, outcomes = copy_and_check(context, coldtier, spec)
    yield from materialized
    yield from partition_check_events(context, cold_key(spec), outcomes)
