"""The `maintenance` job: compaction, snapshot expiry, orphan removal and audit of the cold tables.

A thin op over :func:`~coldtier_assets.maintenance.runner.run_maintenance`; run config chooses the
tables (empty: all) and the policy, so it can be launched on demand for one table from the UI. The
run fails when any action failed; every action is in the ``maintenance_audit_log`` either way.
``COLDTIER_MAINTENANCE_ENGINE`` picks the engine: ``pyiceberg`` (default, in the run's process) or
``spark`` (Iceberg's procedures on the session of the ``spark`` resource, dagster-pyspark's
lazily created session, which a pyiceberg run never starts).

No ``from __future__ import annotations`` here: Dagster resolves the op's config class at runtime.
"""

from datetime import timedelta

import dagster as dg

from coldtier_assets.defs.resources import ColdtierResource, ColdtierSparkResource
from coldtier_assets.maintenance.audit_log import AuditRow
from coldtier_assets.maintenance.policy import DEFAULT_POLICY, MIB, MaintenancePolicy
from coldtier_assets.maintenance.runner import run_maintenance
from coldtier_assets.resources.spark_jars import SparkUnavailableError
from coldtier_assets.tables import TABLES_BY_NAME

MAINTENANCE_JOB = "maintenance"


class MaintenanceConfig(dg.Config):
    """Which tables to maintain and how (the defaults are the daily run's)."""

    tables: list[str] = []
    target_file_size_mb: int = DEFAULT_POLICY.target_file_size_bytes // MIB
    snapshot_max_age_days: float = DEFAULT_POLICY.snapshot_max_age / timedelta(days=1)
    min_snapshots_to_keep: int = DEFAULT_POLICY.min_snapshots_to_keep
    orphan_min_age_days: float = DEFAULT_POLICY.orphan_min_age / timedelta(days=1)

    def policy(self) -> MaintenancePolicy:
        """The maintenance policy this config describes."""
        return MaintenancePolicy(
            target_file_size_bytes=self.target_file_size_mb * MIB,
            snapshot_max_age=timedelta(days=self.snapshot_max_age_days),
            min_snapshots_to_keep=self.min_snapshots_to_keep,
            orphan_min_age=timedelta(days=self.orphan_min_age_days),
        )


def _summary(rows: list[AuditRow]) -> str:
    lines = ["| table | action | outcome | files | rows | message |", "|---|---|---|---|---|---|"]
    for row in rows:
        files = f"{row.files_before} → {row.files_after}" if row.files_before is not None else ""
        rows_ = f"{row.rows_before} → {row.rows_after}" if row.rows_before is not None else ""
        message = row.message.replace("|", "/")
        lines.append(f"| {row.table_name} | {row.action} | {row.outcome} | {files} | {rows_} | {message} |")
    return "\n".join(lines)


@dg.op(description="Compact, expire snapshots, remove orphan files and audit the selected cold tables.")
def maintain_cold_tables(
    context: dg.OpExecutionContext,
    config: MaintenanceConfig,
    coldtier: ColdtierResource,
    spark: ColdtierSparkResource,
) -> dg.Output[int]:
    """Run the maintenance on the configured engine and fail the op when any action failed."""
    unknown = [name for name in config.tables if name not in TABLES_BY_NAME]
    if unknown:
        raise dg.Failure(f"unknown table(s) {unknown}; known: {', '.join(TABLES_BY_NAME)}")
    engine = coldtier.settings.maintenance_engine
    try:
        session = spark.spark_session if engine == "spark" else None
    except SparkUnavailableError as error:  # one clear line in the UI, nothing touched yet
        raise dg.Failure(description=f"COLDTIER_MAINTENANCE_ENGINE=spark, but {error}") from error
    context.log.info(f"maintenance engine: {engine}")
    rows = run_maintenance(
        coldtier.settings,
        coldtier.warm,
        coldtier.catalog(),
        config.tables or None,
        policy=config.policy(),
        spark=session,
    )
    for row in rows:
        line = f"{row.table_name} {row.action}: {row.outcome} — {row.message}"
        if row.failed:
            context.log.error(line)
        else:
            context.log.info(line)
    metadata: dict[str, dg.RawMetadataValue] = {
        "actions": dg.MetadataValue.md(_summary(rows)),
        "failed": dg.MetadataValue.int(sum(row.failed for row in rows)),
        "tables": dg.MetadataValue.int(len({row.table_name for row in rows})),
        "engine": dg.MetadataValue.text(engine),
    }
    failed = [row for row in rows if row.failed]
    if failed:
        raise dg.Failure(
            description=f"{len(failed)} maintenance action(s) failed: "
            + "; ".join(f"{row.table_name} {row.action}: {row.message}" for row in failed),
            metadata=metadata,
        )
    return dg.Output(len(rows), metadata=metadata)


@dg.job(
    name=MAINTENANCE_JOB,
    executor_def=dg.in_process_executor,
    description="Daily maintenance of the cold tables (02:00 UTC): compaction, snapshot expiry, orphan "
    "removal and a row/checksum audit; each action is logged to maintenance_audit_log.",
    tags={"coldtier/kind": "maintenance"},
)
def maintenance_job() -> None:
    """The maintenance job: one op over every selected table."""
    maintain_cold_tables()
