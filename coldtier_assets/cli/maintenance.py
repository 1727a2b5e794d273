"""CLI commands `coldtier maintain` (cold-table maintenance) and `coldtier retention` (guarded warm purge).

``cli.py`` wires them with ``register(app)``.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from coldtier_assets.cli.common import errors, settings_or_exit
from coldtier_assets.config import Settings
from coldtier_assets.errors import ColdtierError
from coldtier_assets.maintenance.audit_log import AuditRow
from coldtier_assets.maintenance.retention import RetentionDecision

_console = Console(width=None if sys.stdout.isatty() else 160)
_errors = errors

_OUTCOME_STYLE = {"success": "green", "failed": "red", "skipped": "yellow"}


def _settings() -> Settings:
    return settings_or_exit()


def _change(before: int | None, after: int | None) -> str:
    if before is None and after is None:
        return ""
    return f"{'' if before is None else f'{before:,}'} → {'' if after is None else f'{after:,}'}"


def render_audit_rows(rows: list[AuditRow]) -> RichTable:
    """A rich table of maintenance actions: outcome, files, bytes, rows, duration and message."""
    table = RichTable(title="maintenance")
    for column in ("table", "action", "outcome", "files", "bytes", "rows", "seconds", "message"):
        table.add_column(
            column, justify="right" if column in ("files", "bytes", "rows", "seconds") else "left"
        )
    for row in rows:
        style = _OUTCOME_STYLE[row.outcome]
        table.add_row(
            row.table_name,
            row.action,
            f"[{style}]{row.outcome}[/{style}]",
            _change(row.files_before, row.files_after),
            _change(row.bytes_before, row.bytes_after),
            _change(row.rows_before, row.rows_after),
            f"{row.duration_seconds:.2f}",
            escape(row.message),
        )
    return table


def render_retention(decisions: list[RetentionDecision]) -> RichTable:
    """A rich table of retention decisions: day, table, rows, what happened and why."""
    table = RichTable(title="warm retention")
    for column in ("day", "table", "rows", "decision", "reason"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for decision in decisions:
        if decision.dropped:
            verdict = "[green]dropped[/green]"
        elif decision.drop and decision.dry_run:
            verdict = "[cyan]would drop[/cyan]"
        elif decision.drop:
            verdict = "[red]drop failed[/red]"
        else:
            verdict = "[yellow]kept[/yellow]"
        table.add_row(
            decision.day.isoformat(), decision.table, f"{decision.rows:,}", verdict, escape(decision.reason)
        )
    return table


def register(app: typer.Typer) -> None:
    """Add `maintain` and `retention` to the `coldtier` command line."""

    @app.command()
    def maintain(
        table: Annotated[list[str], typer.Option(help="cold table(s) to maintain (default: all)")] = [],  # noqa: B006
        target_file_mb: Annotated[int, typer.Option(help="compaction target file size (MB)")] = 128,
        snapshot_days: Annotated[float, typer.Option(help="expire snapshots older than this (days)")] = 7.0,
        keep_snapshots: Annotated[int, typer.Option(help="always keep this many newest snapshots")] = 5,
        orphan_days: Annotated[
            float, typer.Option(help="remove unreferenced files older than this (days)")
        ] = 3.0,
    ) -> None:
        """Compact small files, expire old snapshots, remove orphan files and audit rows, per cold table."""
        from coldtier_assets.maintenance.policy import MIB, MaintenancePolicy
        from coldtier_assets.maintenance.runner import run_maintenance
        from coldtier_assets.resources.clickhouse import WarmTier
        from coldtier_assets.resources.iceberg import open_catalog
        from coldtier_assets.tables import get_table

        settings = _settings()
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
        try:
            rows = run_maintenance(
                settings, WarmTier(settings.warm_dsn), open_catalog(settings), table or None, policy=policy
            )
        except ColdtierError as error:
            _errors.print(f"[red]error:[/red] {type(error).__name__}: {escape(str(error))}")
            raise typer.Exit(1) from None
        _console.print(render_audit_rows(rows))
        failed = [row for row in rows if row.failed]
        if failed:
            _errors.print(
                f"[red]{len(failed)} maintenance action(s) failed[/red] (see maintenance_audit_log)"
            )
            raise typer.Exit(1)

    @app.command()
    def retention(
        days: Annotated[int, typer.Option("--days", help="keep this many days in ClickHouse", min=1)],
        dry_run: Annotated[bool, typer.Option("--dry-run", help="only show what would be dropped")] = False,
    ) -> None:
        """Drop ClickHouse days older than --days whose every window is verified in the cold tier."""
        from coldtier_assets.maintenance.retention import apply_retention
        from coldtier_assets.resources.clickhouse import WarmTier
        from coldtier_assets.resources.iceberg import open_catalog

        settings = _settings()
        try:
            decisions = apply_retention(
                settings, WarmTier(settings.warm_dsn), open_catalog(settings), days, dry_run=dry_run
            )
        except ColdtierError as error:
            _errors.print(f"[red]error:[/red] {type(error).__name__}: {escape(str(error))}")
            raise typer.Exit(1) from None
        if not decisions:
            _console.print(f"no ClickHouse day older than {days} day(s): nothing to do")
            return
        _console.print(render_retention(decisions))
        failed = [decision for decision in decisions if decision.outcome == "failed"]
        if failed:
            _errors.print(f"[red]{len(failed)} partition drop(s) failed[/red]")
            raise typer.Exit(1)
