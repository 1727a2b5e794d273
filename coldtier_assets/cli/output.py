"""Rendering for the `coldtier` commands, kept apart from them: rich tables, CSV and config lines.

Data values are always rendered literally (as :class:`rich.text.Text`), so a value such as ``[/x]``
never reads as rich markup; connection strings and secrets are redacted.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import TextIO

import pyarrow as pa
from rich.table import Table as RichTable
from rich.text import Text

from coldtier_assets.config import Settings, settings_doc
from coldtier_assets.maintenance.audit_log import AuditRow
from coldtier_assets.maintenance.retention import RetentionDecision
from coldtier_assets.redact import redact

_OUTCOME_STYLE = {"success": "green", "failed": "red", "skipped": "yellow"}


def cell(value: object) -> str:
    """One value as text: ISO 8601 times, exact decimals, empty for NULL."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def render_arrow(result: pa.Table, title: str | None = None) -> RichTable:
    """A rich table of an Arrow result (numbers right-aligned, every value shown literally)."""
    table = RichTable(title=title)
    numeric = [
        pa.types.is_integer(field.type) or pa.types.is_floating(field.type) or pa.types.is_decimal(field.type)
        for field in result.schema
    ]
    for field, right in zip(result.schema, numeric, strict=True):
        table.add_column(Text(field.name), justify="right" if right else "left")
    for row in result.to_pylist():
        table.add_row(
            *(Text(cell(value)) if value is not None else Text("NULL", style="dim") for value in row.values())
        )
    return table


def write_csv(result: pa.Table, stream: TextIO | None = None) -> None:
    """Write an Arrow result as CSV with a header row (to stdout by default)."""
    writer = csv.writer(stream or sys.stdout, lineterminator="\n")
    writer.writerow(result.column_names)
    for row in result.to_pylist():
        writer.writerow([cell(value) for value in row.values()])


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
        table.add_row(
            Text(row.table_name),
            Text(row.action),
            Text(row.outcome, style=_OUTCOME_STYLE[row.outcome]),
            _change(row.files_before, row.files_after),
            _change(row.bytes_before, row.bytes_after),
            _change(row.rows_before, row.rows_after),
            f"{row.duration_seconds:.2f}",
            Text(redact(row.message)),
        )
    return table


def _verdict(decision: RetentionDecision) -> Text:
    if decision.dropped:
        return Text("dropped", style="green")
    if decision.drop and decision.dry_run:
        return Text("would drop", style="cyan")
    if decision.drop:
        return Text("drop failed", style="red")
    return Text("kept", style="yellow")


def render_retention(decisions: list[RetentionDecision]) -> RichTable:
    """A rich table of retention decisions: day, table, rows, what happened and why."""
    table = RichTable(title="warm retention")
    for column in ("day", "table", "rows", "decision", "reason"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for decision in decisions:
        table.add_row(
            decision.day.isoformat(),
            Text(decision.table),
            f"{decision.rows:,}",
            _verdict(decision),
            Text(redact(decision.reason)),
        )
    return table


def config_lines(settings: Settings, env: Mapping[str, str]) -> Iterator[Text]:
    """`coldtier config`: each variable, its raw value, meaning and default, then the resolved settings."""
    for variable, meaning, default in settings_doc():
        line = Text(variable, style="bold")
        line.append(f" = {redact(repr(env.get(variable, '')))}  ({meaning}; default {default})")
        yield line
    yield Text(redact(repr(settings)))
