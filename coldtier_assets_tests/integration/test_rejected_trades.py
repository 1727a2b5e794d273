"""Invalid trades are quarantined in ``rejected_trades`` with their reasons, counted, and accounted for.

Real chDB runs the materialized views of ``ddl/clickhouse`` on each insert; real Iceberg tables.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from coldtier_assets.config import Settings
from coldtier_assets.defs.checks.asset_checks import (
    ACCOUNTED,
    CONSISTENCY,
    CheckOutcome,
    check_names,
    evaluate_checks,
)
from coldtier_assets.defs.resources import ColdtierResource
from coldtier_assets.offload.pipeline import Offloader
from coldtier_assets.offload.quarantine import account_trades
from coldtier_assets.offload.status import collect_status, render_status
from coldtier_assets.offload.windows import Window
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.resources.iceberg import open_catalog
from coldtier_assets.simulate.feed import simulate_history
from coldtier_assets.tables import TABLES, get_table
from coldtier_assets_tests.fixtures import DAY

START = DAY + timedelta(hours=22)
SPAN = Window(START, START + timedelta(minutes=15))
T = "2026-11-24 22:05:00"
INGESTED = "2026-11-24 22:05:01"

BINANCE = (
    "INSERT INTO bronze_trades_binance (event_time, symbol, trade_id, price, quantity, trade_time, is_buyer_maker,"
    " ingested_at) VALUES "
)
KRAKEN = (
    "INSERT INTO bronze_trades_kraken (pair, price, volume, time, side, order_type, misc, trade_id, ingested_at)"
    " VALUES "
)
COINBASE = (
    "INSERT INTO bronze_trades_coinbase (trade_id, product_id, price, size, side, time, ingested_at) VALUES "
)

#: (exchange, trade_id, the reason it is rejected for, the insert) — one per kind of invalid trade.
INVALID: list[tuple[str, int, str, str]] = [
    ("binance", 900001, "price <= 0", f"('{T}', 'BTCUSDT', 900001, 0, 1, '{T}', 1, '{INGESTED}')"),
    ("binance", 900002, "price <= 0", f"('{T}', 'BTCUSDT', 900002, -5, 1, '{T}', 1, '{INGESTED}')"),
    ("binance", 900003, "quantity <= 0", f"('{T}', 'BTCUSDT', 900003, 90000, -1, '{T}', 0, '{INGESTED}')"),
    ("binance", 900004, "quantity <= 0", f"('{T}', 'ZZZUSDT', 900004, 0.1, 0, '{T}', 0, '{INGESTED}')"),
    ("binance", 900005, "empty symbol", f"('{T}', '', 900005, 90000, 1, '{T}', 0, '{INGESTED}')"),
    ("binance", 900006, "empty symbol", f"('{T}', NULL, 900006, 90000, 1, '{T}', 0, '{INGESTED}')"),
    ("binance", 900007, "price <= 0", f"('{T}', 'BTCUSDT', 900007, NULL, 1, '{T}', 0, '{INGESTED}')"),
    ("binance", 900008, "quantity <= 0", f"('{T}', 'BTCUSDT', 900008, 90000, NULL, '{T}', 0, '{INGESTED}')"),
    (
        "binance",
        900009,
        "trade time before 2009 (or missing)",
        f"('{T}', 'BTCUSDT', 900009, 90000, 1, NULL, 0, '{INGESTED}')",
    ),
    (
        "binance",
        900010,
        "trade time before 2009 (or missing)",
        f"('{T}', 'BTCUSDT', 900010, 90000, 1, '2008-12-31 23:59:59', 0, '{INGESTED}')",
    ),
    (
        "binance",
        900011,
        "trade time more than 10 minutes after ingestion",
        f"('{T}', 'BTCUSDT', 900011, 90000, 1, '2026-11-24 22:14:00', 0, '2026-11-24 22:03:59')",
    ),
    (
        "binance",
        900012,
        "event time before 2009 (or missing)",
        f"(NULL, 'BTCUSDT', 900012, 90000, 1, '{T}', 0, '{INGESTED}')",
    ),
    ("binance", 0, "trade_id <= 0 (missing)", f"('{T}', 'ETHUSDT', NULL, 3000, 1, '{T}', 0, '{INGESTED}')"),
    (
        "kraken",
        900021,
        "side not b | s (or missing)",
        f"('XBT/USD', 90000, 1, '{T}', NULL, 'm', '', 900021, '{INGESTED}')",
    ),
    (
        "kraken",
        900022,
        "order_type not m | l (or missing)",
        f"('XBT/USD', 90000, 1, '{T}', 'b', NULL, '', 900022, '{INGESTED}')",
    ),
    ("kraken", 900023, "quantity <= 0", f"('XBT/USD', 90000, 0, '{T}', 's', 'l', '', 900023, '{INGESTED}')"),
    (
        "coinbase",
        900031,
        "side not buy | sell (or missing)",
        f"(900031, 'BTC-USD', 90000, 1, NULL, '{T}', '{INGESTED}')",
    ),
    ("coinbase", 900032, "empty symbol", f"(900032, NULL, 90000, 1, 'buy', '{T}', '{INGESTED}')"),
    ("coinbase", 900033, "price <= 0", f"(900033, 'BTC-USD', -1, 1, 'sell', '{T}', '{INGESTED}')"),
]


def insert_invalid(warm: WarmTier) -> None:
    """Every kind of invalid trade, as a feed would send it (NULLs become ClickHouse defaults)."""
    prefixes = {"binance": BINANCE, "kraken": KRAKEN, "coinbase": COINBASE}
    for exchange, prefix in prefixes.items():
        warm.command(prefix + ", ".join(values for ex, _, _, values in INVALID if ex == exchange))


@pytest.fixture
def fed(initialized: Settings, warm: WarmTier) -> Settings:
    simulate_history(warm, START, START + timedelta(minutes=30), seed=11, trades_per_second=10)
    return initialized


def invariant_check(settings: Settings, span: Window = SPAN) -> CheckOutcome:
    spec = get_table("rejected_trades")
    key = dg.AssetCheckKey(dg.AssetKey(["cold", spec.name]), ACCOUNTED)
    (result,) = evaluate_checks({key}, ColdtierResource.from_settings(settings), spec, span)
    return result


def test_each_kind_of_invalid_trade_is_rejected_with_its_reason(fed: Settings, warm: WarmTier) -> None:
    silver_before = warm.rows("SELECT count() FROM silver_trades FINAL")[0][0]
    insert_invalid(warm)
    rejected = {
        (str(exchange), int(str(trade_id))): str(reason)
        for exchange, trade_id, reason in warm.rows(
            "SELECT exchange, trade_id, reason FROM rejected_trades FINAL"
        )
    }
    for exchange, trade_id, reason, _ in INVALID:
        assert reason in rejected.get((exchange, trade_id), "not rejected"), (exchange, trade_id)
    assert len(rejected) == len(INVALID)  # the simulated (valid) trades are not rejected
    assert warm.rows("SELECT count() FROM silver_trades FINAL")[0][0] == silver_before  # none entered Silver
    ids = ", ".join(str(trade_id) for _, trade_id, _, _ in INVALID)
    in_bronze = sum(
        int(str(warm.rows(f"SELECT count() FROM {spec.name} WHERE trade_id IN ({ids})")[0][0]))
        for spec in TABLES
        if spec.layer == "bronze"
    )
    assert in_bronze == len(INVALID)  # Bronze keeps everything as received


def test_rejected_counts_show_in_status_per_bronze_table(
    fed: Settings, warm: WarmTier, catalog: SqlCatalog
) -> None:
    clean = {status.table: status.rejected for status in collect_status(warm, catalog, fed.namespace)}
    assert (clean["bronze_trades_binance"], clean["rejected_trades"], clean["gold_ohlcv_1m"]) == (0, 0, None)
    insert_invalid(warm)
    statuses = {status.table: status for status in collect_status(warm, catalog, fed.namespace)}
    expected = {ex: sum(1 for x, *_ in INVALID if x == ex) for ex in ("binance", "kraken", "coinbase")}
    assert {ex: statuses[f"bronze_trades_{ex}"].rejected for ex in expected} == expected
    assert statuses["rejected_trades"].rejected == len(INVALID)
    assert statuses["silver_trades"].rejected is None
    assert "rejected" in [column.header for column in render_status(list(statuses.values())).columns]


def test_invariant_holds_on_clean_and_dirty_data_and_fails_when_a_trade_goes_missing(
    fed: Settings, warm: WarmTier
) -> None:
    clean = invariant_check(fed)
    assert clean.passed and clean.metadata["rejected_binance"] == 0
    insert_invalid(warm)
    warm.command(BINANCE + f"('{T}', 'BTCUSDT', 900001, 0, 1, '{T}', 1, '2026-11-24 22:06:00')")  # a resend
    dirty = invariant_check(fed)
    assert dirty.passed, dirty.metadata
    outside = {900009, 900010}  # their trade time (1970, 2008) is not in the window
    assert dirty.metadata["rejected_binance"] == sum(
        1 for ex, trade_id, _, _ in INVALID if ex == "binance" and trade_id not in outside
    )
    assert (dirty.metadata["rejected_kraken"], dirty.metadata["rejected_coinbase"]) == (3, 3)
    # A trade lost between Bronze and Silver (here: deleted from Silver) breaks the invariant.
    ((symbol, victim),) = warm.rows(
        "SELECT symbol, trade_id FROM silver_trades WHERE exchange = 'kraken' AND trade_time < toDateTime64("
        f"'{T}', 6, 'UTC') ORDER BY trade_id LIMIT 1"
    )
    warm.command(
        f"DELETE FROM silver_trades WHERE exchange = 'kraken' AND symbol = '{symbol}' AND trade_id = {victim}"
    )
    broken = invariant_check(fed)
    assert not broken.passed
    assert "kraken 2026-11-24 22:00: bronze" in str(broken.metadata["differing"])
    accounts = [a for a in account_trades(warm, [SPAN]) if not a.ok]
    assert [(a.exchange, a.bronze - a.silver - a.rejected) for a in accounts] == [("kraken", 1)]


def test_rejected_trades_are_tiered_to_cold_like_any_table(
    fed: Settings, warm: WarmTier, catalog: SqlCatalog
) -> None:
    """The issue's trade (ZZZUSDT, quantity 0) no longer stops any table of its window."""
    insert_invalid(warm)
    offloader = Offloader(fed, warm, lambda: open_catalog(fed))
    for spec in TABLES:
        window = spec.window(fed.window)
        start = DAY + (START - DAY) // window * window  # the window holding START
        offloader.offload(spec, start, start + window)
    cold = catalog.load_table((fed.namespace, "rejected_trades")).scan(row_filter="symbol == 'ZZZUSDT'")
    assert [row["reason"] for row in cold.to_arrow().to_pylist()] == ["quantity <= 0"]
    spec = get_table("rejected_trades")
    selected = {dg.AssetCheckKey(dg.AssetKey(["cold", spec.name]), name) for name in check_names(spec)}
    results = evaluate_checks(selected, ColdtierResource.from_settings(fed), spec, SPAN)
    assert {result.check_name: result.passed for result in results} == dict.fromkeys(
        (CONSISTENCY, "no_duplicate_keys", "schema_matches_ddl", ACCOUNTED), True
    )
