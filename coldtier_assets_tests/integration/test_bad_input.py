"""Bad input gets a clear error and loses nothing: drift, NULLs, missing tables, purged windows."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from coldtier_assets.config import Settings
from coldtier_assets.defs.assets.keys import cold_key
from coldtier_assets.defs.checks.asset_checks import CANDLES, SCHEMA, evaluate_checks
from coldtier_assets.defs.resources import ColdtierResource
from coldtier_assets.errors import (
    SchemaDriftError,
    WarmDataPurgedError,
    WarmTableMissingError,
    WarmTierUnavailableError,
)
from coldtier_assets.offload.pipeline import Offloader
from coldtier_assets.offload.windows import Window
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.resources.iceberg import open_catalog
from coldtier_assets.simulate.feed import simulate_history
from coldtier_assets.tables import get_table
from coldtier_assets_tests.fixtures import DAY

START = DAY + timedelta(hours=22)
M15 = timedelta(minutes=15)


def _offloader(settings: Settings, warm: WarmTier) -> Offloader:
    return Offloader(settings, warm, lambda: open_catalog(settings))


def _state(catalog: SqlCatalog, settings: Settings, table: str) -> tuple[int, set[Path]]:
    """(snapshot count, data files on disk) of a cold table."""
    loaded = catalog.load_table((settings.namespace, table))
    files = set(Path(loaded.location().removeprefix("file://")).rglob("*.parquet"))
    return len(loaded.metadata.snapshots), files


@pytest.fixture
def fed(initialized: Settings, warm: WarmTier) -> Settings:
    simulate_history(warm, START, START + timedelta(minutes=30), seed=5, trades_per_second=20)
    return initialized


@pytest.mark.parametrize(
    ("table", "column", "ch_type", "expected"),
    [
        (
            "bronze_trades_binance",
            "price",
            "Float64",
            r"decimal\(18, 8\) NOT NULL; expected Decimal\(18, 8\)",
        ),
        (
            "bronze_trades_binance",
            "price",
            "Decimal(38, 8)",
            r"precision 38 does not fit the cold precision 18",
        ),
        ("bronze_trades_coinbase", "size", "Decimal(18, 6)", r"expected Decimal\(18, 8\): scale 6 differs"),
        (
            "bronze_trades_binance",
            "event_time",
            "DateTime('UTC')",
            r"expected DateTime64\(6, 'UTC'\).*whole seconds",
        ),
        (
            "bronze_trades_kraken",
            "ingested_at",
            "DateTime64(9, 'UTC')",
            r"precision 9 is finer than the cold",
        ),
        (
            "bronze_trades_kraken",
            "misc",
            "Nullable(String)",
            r"string NOT NULL; expected a non-Nullable type",
        ),
    ],
)
def test_column_type_that_cannot_be_written_is_refused_before_any_row(
    fed: Settings, warm: WarmTier, catalog: SqlCatalog, table: str, column: str, ch_type: str, expected: str
) -> None:
    """The copy stops before reading: the message names the column, its ClickHouse type, the expected type."""
    before = _state(catalog, fed, table)
    warm.command(f"ALTER TABLE {table} MODIFY COLUMN {column} {ch_type}")
    message = rf"{table}.*column '{column}' is {re.escape(ch_type)} in ClickHouse, the DDL says .*{expected}"
    with pytest.raises(SchemaDriftError, match=message):
        _offloader(fed, warm).offload(get_table(table), START, START + M15)
    assert _state(catalog, fed, table) == before  # no snapshot, no stray data file


def test_extra_clickhouse_column_fails_schema_check_by_name(fed: Settings, warm: WarmTier) -> None:
    """A column added in ClickHouse would be silently left out: ``schema_matches_ddl`` names it."""
    spec = get_table("bronze_trades_binance")
    warm.command("ALTER TABLE bronze_trades_binance ADD COLUMN venue_flags UInt16 DEFAULT 0")
    _offloader(fed, warm).offload(spec, START, START + M15)  # the DDL's columns still copy
    check = dg.AssetCheckKey(dg.AssetKey(["cold", spec.name]), SCHEMA)
    coldtier = ColdtierResource.from_settings(fed)
    (result,) = evaluate_checks({check}, coldtier, spec, Window(START, START + M15))
    assert not result.passed
    problems = str(result.metadata["problems"])
    assert "ClickHouse column 'venue_flags' (UInt16) is not in the cold table" in problems


def test_missing_column_is_schema_drift(fed: Settings, warm: WarmTier) -> None:
    for view in ("mv_silver_from_coinbase", "mv_rejected_from_coinbase"):  # the views read the column
        warm.command(f"DROP VIEW {view}")
    warm.command("ALTER TABLE bronze_trades_coinbase DROP COLUMN size")
    with pytest.raises(SchemaDriftError, match="column 'size' is missing"):
        _offloader(fed, warm).offload(get_table("bronze_trades_coinbase"), START, START + M15)


def test_missing_warm_table_is_a_clear_error(fed: Settings, warm: WarmTier) -> None:
    warm.command("DROP VIEW gold_ohlcv_1h")
    with pytest.raises(WarmTableMissingError, match="'gold_ohlcv_1h' does not exist"):
        _offloader(fed, warm).offload(get_table("gold_ohlcv_1h"), START, START + timedelta(hours=1))


def test_unreachable_clickhouse_is_a_clear_error() -> None:
    warm = WarmTier("http://default:secret@127.0.0.1:9/default", connect_timeout_seconds=2)
    with pytest.raises(
        WarmTierUnavailableError, match=r"cannot open warm tier http://default:\*\*\*@127.0.0.1:9"
    ):
        warm.rows("SELECT 1")


def test_purged_warm_window_never_deletes_cold_rows(
    fed: Settings, warm: WarmTier, catalog: SqlCatalog
) -> None:
    spec = get_table("silver_trades")
    first = _offloader(fed, warm).offload(spec, START, START + M15)
    warm.command("ALTER TABLE silver_trades DROP PARTITION 20261124")
    with pytest.raises(WarmDataPurgedError, match="refusing to delete the cold copy"):
        _offloader(fed, warm).offload(spec, START, START + M15)
    table = catalog.load_table((fed.namespace, spec.name))
    assert table.scan().to_arrow().num_rows == first.rows


def test_zero_volume_candle_gets_the_close_as_vwap(
    fed: Settings, warm: WarmTier, catalog: SqlCatalog
) -> None:
    """A candle whose trades sum to zero quantity is copied, its VWAP is the close, and re-derives."""
    warm.command(
        "INSERT INTO silver_trades (exchange, symbol, trade_id, price, quantity, quote_amount, side, trade_time,"
        " ingested_at) VALUES "
        "('binance', 'ZZZ/USDT', 7, 0.2, 0, 0, 'buy', '2026-11-24 22:05:00.000000', '2026-11-24 22:05:01'),"
        "('binance', 'ZZZ/USDT', 8, 0.1, 0, 0, 'sell', '2026-11-24 22:05:30.000000', '2026-11-24 22:05:31')"
    )
    offloader = _offloader(fed, warm)
    offloader.offload(get_table("silver_trades"), START, START + M15)
    offloader.offload(get_table("gold_ohlcv_1m"), START, START + M15)
    candles = catalog.load_table((fed.namespace, "gold_ohlcv_1m")).scan(row_filter="symbol == 'ZZZ/USDT'")
    (candle,) = candles.to_arrow().to_pylist()
    assert (candle["volume"], candle["trade_count"]) == (0, 2)
    assert candle["vwap"] == candle["close"] == Decimal("0.1")
    window = Window(START, START + M15)
    gold = get_table("gold_ohlcv_1m")
    key = dg.AssetCheckKey(cold_key(gold), CANDLES)
    (result,) = evaluate_checks({key}, ColdtierResource.from_settings(fed), gold, window)
    assert result.passed, result.metadata
