"""CLI commands `coldtier query` (federated, read-only SQL over warm + cold) and `coldtier exporter`."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from coldtier_assets.cli.common import cli_settings, console, warm_tier
from coldtier_assets.cli.output import render_arrow, write_csv
from coldtier_assets.errors import ColdtierError


class OutputFormat(StrEnum):
    """How `coldtier query` prints its result."""

    table = "table"
    csv = "csv"


class ExporterError(ColdtierError):
    """The Prometheus exporter cannot listen on the address it was given."""


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
    """Federated, read-only SQL: each table's committed ranges from cold, the rest from warm — never both."""
    from coldtier_assets.federated.run import federated_query
    from coldtier_assets.resources.iceberg import open_catalog

    settings = cli_settings()
    result = federated_query(settings, warm_tier(settings), open_catalog(settings), sql)
    if output is OutputFormat.csv:
        write_csv(result)
    else:
        console.print(render_arrow(result, title=f"{result.num_rows:,} row(s)"))


def exporter(
    port: Annotated[int, typer.Option(help="port to serve /metrics on")] = 9464,
    host: Annotated[str, typer.Option(help="address to listen on (0.0.0.0: every interface)")] = "127.0.0.1",
    cache_seconds: Annotated[float, typer.Option(help="reuse computed figures for this long")] = 5.0,
) -> None:
    """Serve Prometheus metrics (coldtier_*) on http://HOST:PORT/metrics until stopped."""
    from coldtier_assets.metrics import serve

    settings = cli_settings()
    try:
        server = serve(settings, port, host, cache_seconds=cache_seconds)
    except OSError as error:
        raise ExporterError(f"cannot listen on {host}:{port}: {error}") from None
    console.print(f"serving {server.url} (Ctrl-C stops)")
    try:
        server.wait()
    except KeyboardInterrupt:
        server.shutdown()
