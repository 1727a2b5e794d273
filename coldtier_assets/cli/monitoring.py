"""CLI commands `coldtier query` (federated SQL over warm + cold) and `coldtier exporter` (Prometheus).

``cli.py`` wires them with ``register(app)``.
"""

from __future__ import annotations

import csv
import sys
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, TextIO

import pyarrow as pa
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from coldtier_assets.cli.common import errors, settings_or_exit
from coldtier_assets.config import Settings
from coldtier_assets.errors import ColdtierError

_console = Console(width=None if sys.stdout.isatty() else 160)
_errors = errors


class OutputFormat(StrEnum):
    """How `coldtier query` prints its result."""

    table = "table"
    csv = "csv"


def _settings() -> Settings:
    return settings_or_exit()


def _cell(value: object) -> str:
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
    """A rich table of an Arrow result (numbers right-aligned)."""
    table = RichTable(title=title)
    numeric = [
        pa.types.is_integer(field.type) or pa.types.is_floating(field.type) or pa.types.is_decimal(field.type)
        for field in result.schema
    ]
    for field, right in zip(result.schema, numeric, strict=True):
        table.add_column(field.name, justify="right" if right else "left")
    for row in result.to_pylist():
        table.add_row(*(_cell(value) if value is not None else "[dim]NULL[/dim]" for value in row.values()))
    return table


def write_csv(result: pa.Table, stream: TextIO | None = None) -> None:
    """Write an Arrow result as CSV with a header row (to stdout by default)."""
    writer = csv.writer(stream or sys.stdout, lineterminator="\n")
    writer.writerow(result.column_names)
    for row in result.to_pylist():
        writer.writerow([_cell(value) for value in row.values()])


def query(
    sql: Annotated[
        str,
        typer.Argument(
            help="one SELECT over the logical tables (silver_trades, gold_ohlcv_1h, bronze_trades_binance, …)"
        ),
    ],
    output: Annotated[
        OutputFormat, typer.Option("--format", help="table (rich) or csv")
    ] = OutputFormat.table,
) -> None:
    """Federated SQL: each table's committed ranges from cold, the rest from warm — never both."""
    from coldtier_assets.federated.query import FederatedQueryError, federated_query
    from coldtier_assets.resources.clickhouse import WarmTier
    from coldtier_assets.resources.iceberg import open_catalog

    settings = _settings()
    try:
        result = federated_query(settings, WarmTier(settings.warm_dsn), open_catalog(settings), sql)
    except FederatedQueryError as error:
        _errors.print(f"[red]query error:[/red] {escape(str(error))}", highlight=False)
        raise typer.Exit(1) from None
    except ColdtierError as error:
        _errors.print(f"[red]error:[/red] {type(error).__name__}: {escape(str(error))}", highlight=False)
        raise typer.Exit(1) from None
    if output is OutputFormat.csv:
        write_csv(result)
    else:
        _console.print(render_arrow(result, title=f"{result.num_rows:,} row(s)"))


def exporter(
    port: Annotated[int, typer.Option(help="port to serve /metrics on")] = 9464,
    host: Annotated[str, typer.Option(help="address to listen on (0.0.0.0: every interface)")] = "127.0.0.1",
    cache_seconds: Annotated[float, typer.Option(help="reuse computed figures for this long")] = 5.0,
) -> None:
    """Serve Prometheus metrics (coldtier_*) on http://HOST:PORT/metrics until stopped."""
    from coldtier_assets.metrics import serve

    settings = _settings()
    try:
        server = serve(settings, port, host, cache_seconds=cache_seconds)
    except OSError as error:
        _errors.print(f"[red]error:[/red] cannot listen on {host}:{port}: {error}")
        raise typer.Exit(1) from None
    _console.print(f"serving {server.url} (Ctrl-C stops)")
    try:
        server.wait()
    except KeyboardInterrupt:
        server.shutdown()


def register(app: typer.Typer) -> None:
    """Add the `query` and `exporter` commands to the coldtier CLI."""
    app.command(name="query")(query)
    app.command(name="exporter")(exporter)
