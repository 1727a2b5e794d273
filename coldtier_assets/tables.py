"""The table registry: every warm/cold table pair, its layer, window and keys — one entry per table.

Adding an exchange is one :class:`Exchange` entry (plus its Bronze DDL file, which holds its native
fields); adding a candle interval is one entry in :data:`CANDLE_INTERVALS` (its DDL is a template).
Bronze trades that break the trade rule go to :data:`REJECTED_TABLE` instead of Silver.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

Layer = Literal["bronze", "silver", "gold"]

#: Columns that record when coldtier or ClickHouse saw a row, not what the trade was; they are
#: copied but left out of content checksums (a resent trade differs only there).
INGESTION_COLUMNS: frozenset[str] = frozenset({"ingested_at"})


@dataclass(frozen=True)
class Exchange:
    """An exchange whose native trades land in ``bronze_trades_<name>``."""

    name: str
    time_column: str
    symbol_column: str

    @property
    def bronze_table(self) -> str:
        """The Bronze table (same name in ClickHouse and Iceberg)."""
        return f"bronze_trades_{self.name}"


def exchange_of(table: str) -> Exchange | None:
    """The exchange whose Bronze table is ``table``; None for other tables."""
    return next((exchange for exchange in EXCHANGES if exchange.bronze_table == table), None)


EXCHANGES: tuple[Exchange, ...] = (
    Exchange("binance", time_column="trade_time", symbol_column="symbol"),
    Exchange("kraken", time_column="time", symbol_column="pair"),
    Exchange("coinbase", time_column="time", symbol_column="product_id"),
)

#: Quarantined trades: Bronze trades that break the rule of ``ddl/clickhouse/005_trade_checks.sql``.
REJECTED_TABLE = "rejected_trades"

#: Gold candle intervals: (name used in table names, length in seconds).
CANDLE_INTERVALS: tuple[tuple[str, int], ...] = (
    ("1m", 60),
    ("5m", 300),
    ("15m", 900),
    ("30m", 1800),
    ("1h", 3600),
    ("1d", 86400),
)


@dataclass(frozen=True)
class TableSpec:
    """One cold table and its ClickHouse source of the same name."""

    name: str
    layer: Layer
    time_column: str
    natural_key: tuple[str, ...]
    upstream: tuple[str, ...] = ()
    candle_seconds: int = 0
    ddl_template: str | None = None

    def window(self, base: timedelta) -> timedelta:
        """The offload window of this table: the base window, or the candle length if longer."""
        return max(base, timedelta(seconds=self.candle_seconds))

    @property
    def template_vars(self) -> dict[str, str]:
        """Values for the ``{{…}}`` placeholders of a templated DDL file."""
        if not self.candle_seconds:
            return {}
        return {"interval": self.name.removeprefix("gold_ohlcv_"), "seconds": str(self.candle_seconds)}


def _build_registry() -> tuple[TableSpec, ...]:
    bronze = tuple(
        TableSpec(
            name=exchange.bronze_table,
            layer="bronze",
            time_column=exchange.time_column,
            natural_key=(exchange.symbol_column, "trade_id"),
        )
        for exchange in EXCHANGES
    )
    silver = TableSpec(
        name="silver_trades",
        layer="silver",
        time_column="trade_time",
        natural_key=("exchange", "symbol", "trade_id"),
        upstream=tuple(table.name for table in bronze),
    )
    rejected = TableSpec(
        name=REJECTED_TABLE,
        layer="silver",
        time_column="trade_time",
        natural_key=("exchange", "symbol", "trade_id"),
        upstream=tuple(table.name for table in bronze),
    )
    gold = tuple(
        TableSpec(
            name=f"gold_ohlcv_{interval}",
            layer="gold",
            time_column="window_start",
            natural_key=("exchange", "symbol", "window_start"),
            upstream=(silver.name,),
            candle_seconds=seconds,
            ddl_template="gold_ohlcv",
        )
        for interval, seconds in CANDLE_INTERVALS
    )
    return (*bronze, silver, rejected, *gold)


TABLES: tuple[TableSpec, ...] = _build_registry()
TABLES_BY_NAME: dict[str, TableSpec] = {table.name: table for table in TABLES}


def get_table(name: str) -> TableSpec:
    """Look a table up by name, with a clear error listing the known tables."""
    try:
        return TABLES_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known: {', '.join(TABLES_BY_NAME)}") from None
