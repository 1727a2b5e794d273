"""`coldtier status`: per table watermark, lag, rows in both tiers, files, snapshots, rejected trades."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from rich.table import Table as RichTable

from coldtier_assets.offload.quarantine import rejected_by_exchange
from coldtier_assets.offload.sink import read_ledger
from coldtier_assets.resources.warm_reader import WarmReader
from coldtier_assets.tables import REJECTED_TABLE, TABLES, TableSpec, exchange_of


@dataclass(frozen=True)
class TableStatus:
    """The state of one warm/cold table pair."""

    table: str
    layer: str
    watermark: datetime | None
    lag: timedelta | None
    warm_rows: int | None
    cold_rows: int | None
    files: int | None
    snapshots: int | None
    last_check: str = "-"
    rejected: int | None = None


def _warm_rows(warm: WarmReader, spec: TableSpec) -> int | None:
    if not warm.table_exists(spec.name):
        return None
    final = " FINAL" if spec.layer != "gold" else ""
    return int(str(warm.rows(f"SELECT count() FROM `{spec.name}`{final}")[0][0]))


def table_status(
    warm: WarmReader, catalog: Catalog, namespace: str, spec: TableSpec, now: datetime
) -> TableStatus:
    """Gather one table's figures: ClickHouse for warm rows, Iceberg metadata for the rest."""
    warm_rows = _warm_rows(warm, spec)
    try:
        table = catalog.load_table((namespace, spec.name))
    except NoSuchTableError:
        return TableStatus(spec.name, spec.layer, None, None, warm_rows, None, None, None)
    snapshot = table.current_snapshot()
    summary = snapshot.summary.additional_properties if snapshot and snapshot.summary else {}
    watermark = read_ledger(table).watermark
    return TableStatus(
        table=spec.name,
        layer=spec.layer,
        watermark=watermark,
        lag=(now - watermark) if watermark else None,
        warm_rows=warm_rows,
        cold_rows=int(summary.get("total-records", 0)),
        files=int(summary.get("total-data-files", 0)),
        snapshots=len(table.metadata.snapshots),
    )


def collect_status(
    warm: WarmReader, catalog: Catalog, namespace: str, now: datetime | None = None
) -> list[TableStatus]:
    """The status of every registry table."""
    now = now or datetime.now(UTC)
    with warm.session():  # one warm session for all tables
        statuses = [table_status(warm, catalog, namespace, spec, now) for spec in TABLES]
        rejected = rejected_by_exchange(warm)
    return [replace(status, rejected=_rejected_of(status.table, rejected)) for status in statuses]


def _rejected_of(table: str, by_exchange: dict[str, int] | None) -> int | None:
    """Quarantined trades of a Bronze table (its exchange's) or of ``rejected_trades`` (all)."""
    if by_exchange is None:  # no warm tier (exporter skipping it) or no rejected_trades table
        return None
    if table == REJECTED_TABLE:
        return sum(by_exchange.values())
    exchange = exchange_of(table)
    return by_exchange.get(exchange.name, 0) if exchange else None


def _fmt_lag(lag: timedelta | None) -> str:
    if lag is None:
        return "-"
    minutes = int(lag.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def _fmt_int(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def render_status(statuses: list[TableStatus]) -> RichTable:
    """A rich table of the statuses, one row per table."""
    table = RichTable(title="coldtier status")
    for column in (
        "table",
        "layer",
        "watermark (UTC)",
        "lag",
        "rows warm",
        "rows cold",
        "files",
        "snapshots",
        "rejected",
        "last check",
    ):
        table.add_column(column, justify="left" if column in ("table", "layer", "last check") else "right")
    for status in statuses:
        table.add_row(
            status.table,
            status.layer,
            status.watermark.strftime("%Y-%m-%d %H:%M") if status.watermark else "-",
            _fmt_lag(status.lag),
            _fmt_int(status.warm_rows),
            _fmt_int(status.cold_rows),
            _fmt_int(status.files),
            _fmt_int(status.snapshots),
            _fmt_int(status.rejected),
            status.last_check,
        )
    return table
