"""CLI commands `coldtier maintain` (cold-table maintenance) and `coldtier retention` (guarded warm purge)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from coldtier_assets.cli.common import cli_settings, console, errors, warm_tier
from coldtier_assets.cli.output import render_audit_rows, render_retention
from coldtier_assets.maintenance.policy import DEFAULT_POLICY, MIB

_DAY = timedelta(days=1)


def maintain(
    table: Annotated[list[str], typer.Option(help="cold table(s) to maintain (default: all)")] = [],  # noqa: B006
    target_file_mb: Annotated[int, typer.Option(help="compaction target file size (MB)")] = (
        DEFAULT_POLICY.target_file_size_bytes // MIB
    ),
    snapshot_days: Annotated[float, typer.Option(help="expire snapshots older than this (days)")] = (
        DEFAULT_POLICY.snapshot_max_age / _DAY
    ),
    keep_snapshots: Annotated[int, typer.Option(help="always keep this many newest snapshots")] = (
        DEFAULT_POLICY.min_snapshots_to_keep
    ),
    orphan_days: Annotated[
        float, typer.Option(help="remove unreferenced files older than this (days)")
    ] = DEFAULT_POLICY.orphan_min_age / _DAY,
) -> None:
    """Compact small files, expire old snapshots, remove orphan files and audit rows, per cold table."""
    from coldtier_assets.maintenance.policy import MaintenancePolicy
    from coldtier_assets.maintenance.runner import run_maintenance
    from coldtier_assets.resources.iceberg import open_catalog
    from coldtier_assets.tables import get_table

    settings = cli_settings()
    try:
        for name in table:
            get_table(name)
        policy = MaintenancePolicy(
            target_file_size_bytes=target_file_mb * MIB,
            snapshot_max_age=timedelta(days=snapshot_days),
            min_snapshots_to_keep=keep_snapshots,
            orphan_min_age=timedelta(days=orphan_days),
        )
    except (KeyError, ValueError) as error:
        raise typer.BadParameter(str(error).strip("'\"")) from None
    spark = None
    if settings.maintenance_engine == "spark":  # COLDTIER_MAINTENANCE_ENGINE: Iceberg's Spark procedures
        from coldtier_assets.resources.spark import build_spark_session

        spark = build_spark_session(settings, app_name="coldtier-maintenance")
    rows = run_maintenance(
        settings, warm_tier(settings), open_catalog(settings), table or None, policy=policy, spark=spark
    )
    console.print(render_audit_rows(rows))
    failed = [row for row in rows if row.failed]
    if failed:
        errors.print(f"[red]{len(failed)} maintenance action(s) failed[/red] (see maintenance_audit_log)")
        raise typer.Exit(1)


def retention(
    days: Annotated[int, typer.Option("--days", help="keep this many days in ClickHouse", min=1)],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only show what would be dropped")] = False,
) -> None:
    """Drop ClickHouse days older than --days whose every window is verified in the cold tier."""
    from coldtier_assets.maintenance.retention import apply_retention
    from coldtier_assets.resources.iceberg import open_catalog

    settings = cli_settings()
    decisions = apply_retention(settings, warm_tier(settings), open_catalog(settings), days, dry_run=dry_run)
    if not decisions:
        console.print(f"no ClickHouse day older than {days} day(s): nothing to do")
        return
    console.print(render_retention(decisions))
    failed = [decision for decision in decisions if decision.outcome == "failed"]
    if failed:
        errors.print(f"[red]{len(failed)} partition drop(s) failed[/red]")
        raise typer.Exit(1)
