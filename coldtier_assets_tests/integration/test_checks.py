"""Each asset check detects what it is for, and passes on clean data (real chDB, real Iceberg files)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg
import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from coldtier_assets.config import Settings
from coldtier_assets.defs.checks.asset_checks import (
    CANDLES,
    CONSISTENCY,
    DUPLICATES,
    SCHEMA,
    check_names,
    evaluate_checks,
)
from coldtier_assets.defs.resources import ColdtierResource
from coldtier_assets.offload.pipeline import Offloader
from coldtier_assets.offload.windows import Window
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.resources.iceberg import open_catalog
from coldtier_assets.simulate.feed import simulate_history
from coldtier_assets.tables import get_table
from coldtier_assets_tests.fixtures import DAY

START = DAY + timedelta(hours=22)
SPAN = Window(START, START + timedelta(minutes=15))
HOUR = Window(START, START + timedelta(hours=1))


@pytest.fixture
def copied(initialized: Settings, warm: WarmTier) -> Settings:
    simulate_history(warm, START, START + timedelta(hours=1), seed=8, trades_per_second=10)
    offloader = Offloader(initialized, warm, lambda: open_catalog(initialized))
    for name in ("bronze_trades_binance", "silver_trades", "gold_ohlcv_15m", "gold_ohlcv_1h"):
        spec = get_table(name)
        offloader.offload(spec, HOUR.start, HOUR.end)
    return initialized


def outcomes(settings: Settings, table: str, span: Window = SPAN) -> dict[str, bool]:
    spec = get_table(table)
    key = dg.AssetKey(["cold", table])
    selected = {dg.AssetCheckKey(key, name) for name in check_names(spec)}
    results = evaluate_checks(selected, ColdtierResource.from_settings(settings), spec, span)
    return {result.check_name or "": result.passed for result in results}


def _rewrite(catalog: SqlCatalog, table: str, change: str) -> None:
    """Tamper with the cold table directly (as a bad writer would), bypassing coldtier."""
    cold = catalog.load_table(("cold", table))
    data = cold.scan(
        row_filter=f"trade_time >= '{SPAN.start.isoformat()}' AND trade_time < '{SPAN.end.isoformat()}'"
    )
    rows = data.to_arrow()
    victim = rows.slice(0, 1)
    if change == "delete":
        cold.delete(f"trade_id == {victim['trade_id'][0].as_py()}")
    elif change == "duplicate":
        cold.append(victim)
    elif change == "price":
        cold.delete(f"trade_id == {victim['trade_id'][0].as_py()}")
        price = pa.array([victim["price"][0].as_py() + 1], pa.decimal128(18, 8))
        cold.append(
            victim.set_column(victim.schema.get_field_index("price"), victim.schema.field("price"), price)
        )


def test_all_checks_pass_on_clean_data(copied: Settings) -> None:
    for table in ("bronze_trades_binance", "silver_trades", "gold_ohlcv_15m"):
        assert all(outcomes(copied, table).values()), table
    assert all(outcomes(copied, "gold_ohlcv_1h", HOUR).values())


@pytest.mark.parametrize(
    ("change", "expected_failures"),
    [("delete", {CONSISTENCY}), ("price", {CONSISTENCY}), ("duplicate", {CONSISTENCY, DUPLICATES})],
)
def test_tampered_cold_rows_are_detected(
    copied: Settings, catalog: SqlCatalog, change: str, expected_failures: set[str]
) -> None:
    _rewrite(catalog, "silver_trades", change)
    failed = {name for name, passed in outcomes(copied, "silver_trades").items() if not passed}
    assert failed == expected_failures


def test_late_trade_after_the_copy_fails_consistency(copied: Settings, warm: WarmTier) -> None:
    warm.command(
        "INSERT INTO bronze_trades_binance (event_time, symbol, trade_id, price, quantity, trade_time, is_buyer_maker) "
        "VALUES ('2026-11-24 22:07:00.000', 'BTCUSDT', 7, 90000, 1, '2026-11-24 22:07:00.000', false)"
    )
    assert outcomes(copied, "bronze_trades_binance") == {CONSISTENCY: False, DUPLICATES: True, SCHEMA: True}
    assert not outcomes(copied, "silver_trades")[CONSISTENCY]


def test_gold_that_differs_from_cold_silver_fails_the_candle_check(
    copied: Settings, catalog: SqlCatalog
) -> None:
    _rewrite(catalog, "silver_trades", "delete")  # cold Silver lost a trade: cold Gold no longer follows
    gold = outcomes(copied, "gold_ohlcv_1h", HOUR)
    assert gold[CANDLES] is False and gold[CONSISTENCY] is True


def test_schema_drift_fails_the_schema_check(copied: Settings, warm: WarmTier) -> None:
    warm.command("ALTER TABLE bronze_trades_binance MODIFY COLUMN quantity Float64")
    assert outcomes(copied, "bronze_trades_binance")[SCHEMA] is False


def test_the_candle_check_reads_only_the_silver_of_its_windows(
    copied: Settings, warm: WarmTier, catalog: SqlCatalog
) -> None:
    """Years of cold Silver are not re-aggregated every run: the derived candles read their span only.

    Another day of cold Silver is copied and its Parquet files then removed from the disk: a check
    that read all of Silver would fail on the missing files, one reading its span never opens them.
    """
    later = Window(HOUR.start + timedelta(days=1), HOUR.end + timedelta(days=1))
    simulate_history(warm, later.start, later.end, seed=9, trades_per_second=10)
    silver = get_table("silver_trades")
    Offloader(copied, warm, lambda: open_catalog(copied)).offload(silver, later.start, later.end)
    window = f"trade_time >= '{later.start.isoformat()}' AND trade_time < '{later.end.isoformat()}'"
    tasks = list(catalog.load_table(("cold", silver.name)).scan(row_filter=window).plan_files())
    assert tasks
    for task in tasks:
        Path(urlparse(task.file.file_path).path).unlink()
    assert outcomes(copied, "gold_ohlcv_1h", HOUR)[CANDLES] is True
