"""Quarantined trades: rejected counts, and the invariant Bronze = Silver + rejected per window.

Each exchange's Bronze trades (FINAL: each resent trade once) either pass the trade rule of
``ddl/clickhouse/005_trade_checks.sql`` into ``silver_trades`` or go to ``rejected_trades`` with the
reasons. Per exchange and window of trade time the three warm tables must add up; a difference is a
trade that went missing (or was counted twice) between Bronze and Silver.
"""

from __future__ import annotations

from dataclasses import dataclass

from coldtier_assets.offload.source import sql_time
from coldtier_assets.offload.windows import Window
from coldtier_assets.resources.warm_reader import WarmReader
from coldtier_assets.tables import EXCHANGES, REJECTED_TABLE, TableSpec, exchange_of


@dataclass(frozen=True)
class TradeAccount:
    """One exchange's trades in one window: Bronze, and where they went (Silver or rejected)."""

    exchange: str
    window: Window
    bronze: int
    silver: int
    rejected: int

    @property
    def ok(self) -> bool:
        """True when every Bronze trade is in exactly one of Silver and rejected."""
        return self.bronze == self.silver + self.rejected


def _bucket(column: str, length: int) -> str:
    return f"intDiv(toUnixTimestamp64Micro(toDateTime64(`{column}`, 6, 'UTC')), 1000000) DIV {length}"


def _span(column: str, span: Window) -> str:
    return f"`{column}` >= {sql_time(span.start)} AND `{column}` < {sql_time(span.end)}"


def accounting_sql(windows: list[Window]) -> tuple[str, int]:
    """SQL giving (source, exchange, bucket, rows) over the windows, and the window length in seconds.

    ``source`` is ``bronze``, ``silver`` or ``rejected``; every table is read FINAL.
    """
    length = int((windows[0].end - windows[0].start).total_seconds())
    span = Window(windows[0].start, windows[-1].end)
    parts = [
        f"SELECT 'bronze' AS source, '{exchange.name}' AS exchange, {_bucket(exchange.time_column, length)} "
        f"AS bucket, count() AS n FROM `{exchange.bronze_table}` FINAL WHERE {_span(exchange.time_column, span)} "
        "GROUP BY bucket"
        for exchange in EXCHANGES
    ]
    parts += [
        f"SELECT '{source}' AS source, toString(exchange) AS exchange, {_bucket('trade_time', length)} AS bucket, "
        f"count() AS n FROM `{table}` FINAL WHERE {_span('trade_time', span)} GROUP BY exchange, bucket"
        for source, table in (("silver", "silver_trades"), ("rejected", REJECTED_TABLE))
    ]
    return " UNION ALL ".join(parts), length


def account_trades(warm: WarmReader, windows: list[Window]) -> list[TradeAccount]:
    """Per exchange and window: Bronze, Silver and rejected trades in the warm tier (one query)."""
    if not windows:
        return []
    sql, length = accounting_sql(windows)
    counts: dict[tuple[str, str, int], int] = {}
    for source, exchange, bucket, rows in warm.rows(sql):
        counts[(str(source), str(exchange), int(str(bucket)))] = int(str(rows))
    accounts = []
    for exchange in EXCHANGES:
        for window in windows:
            bucket = int(window.start.timestamp()) // length
            figures = [
                counts.get((source, exchange.name, bucket), 0) for source in ("bronze", "silver", "rejected")
            ]
            accounts.append(TradeAccount(exchange.name, window, *figures))
    return accounts


def rejected_in(warm: WarmReader, spec: TableSpec, span: Window) -> int | None:
    """Trades of ``span`` rejected from Bronze table ``spec`` (all exchanges for Silver); None otherwise."""
    exchange = exchange_of(spec.name)
    if exchange is None and spec.name != "silver_trades":
        return None
    where = _span("trade_time", span) + (f" AND exchange = '{exchange.name}'" if exchange else "")
    ((count,),) = warm.rows(f"SELECT count() FROM `{REJECTED_TABLE}` FINAL WHERE {where}")
    return int(str(count))


def rejected_by_exchange(warm: WarmReader) -> dict[str, int] | None:
    """Every rejected trade in the warm tier, counted per exchange; None when the table is missing."""
    if not warm.table_exists(REJECTED_TABLE):
        return None
    rows = warm.rows(f"SELECT toString(exchange), count() FROM `{REJECTED_TABLE}` FINAL GROUP BY exchange")
    return {str(exchange): int(str(count)) for exchange, count in rows}
