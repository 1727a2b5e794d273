"""Federated queries over real chDB + Iceberg: committed ranges from cold, the rest warm, never both.

One embedded coldtier for the module: three hours of trades (2026-11-24 23:00 → 11-25 02:00), the
first two copied to the cold tier (watermark 11-25 01:00) plus one window past a gap (01:15-01:30,
in both tiers, a second committed range). Tests run in file order; the partition-drop and the
gap tests come late because they remove warm data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog

from coldtier_assets.config import Settings, load_settings
from coldtier_assets.federated.parse import FederatedQueryError, UnknownTableError, parse_query
from coldtier_assets.federated.plan import compose_sql, plan_query
from coldtier_assets.federated.run import federated_query
from coldtier_assets.offload.bootstrap import init_all
from coldtier_assets.offload.pipeline import Offloader
from coldtier_assets.offload.sink import read_ledger
from coldtier_assets.offload.source import sql_time
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.resources.iceberg import open_catalog
from coldtier_assets.simulate.feed import simulate_history
from coldtier_assets.tables import TABLES, get_table
from coldtier_assets_tests.fixtures import DAY, embedded_env

START = DAY + timedelta(hours=23)
WATERMARK = START + timedelta(hours=2)
END = START + timedelta(hours=3)
GAP = (WATERMARK + timedelta(minutes=15), WATERMARK + timedelta(minutes=30))
BRONZE = [spec for spec in TABLES if spec.layer == "bronze"]

#: Two Binance trades at the boundary: the last millisecond below the watermark (in both tiers:
#: copied, and still in ClickHouse) and exactly at the watermark (warm only).
BELOW_ID, AT_ID = 9_000_000_001, 9_000_000_002

PER_HOUR = (
    "SELECT exchange, toStartOfHour(trade_time) AS hour, count() AS trades, sum(quantity) AS volume "
    "FROM silver_trades{final} GROUP BY exchange, hour ORDER BY exchange, hour"
)
CANDLES = "SELECT * FROM gold_ohlcv_1h ORDER BY exchange, symbol, window_start"


@dataclass(frozen=True)
class Tiers:
    settings: Settings
    warm: WarmTier
    catalog: Catalog


def _ms(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


@pytest.fixture(scope="module")
def tiers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tiers]:
    home: Path = tmp_path_factory.mktemp("federated") / "coldtier"
    settings = load_settings(embedded_env(home))
    warm = WarmTier(settings.warm_dsn)
    catalog = open_catalog(settings)
    init_all(warm, catalog, settings.namespace)
    simulate_history(warm, START, END, seed=5, trades_per_second=4)
    below = WATERMARK - timedelta(milliseconds=1)
    warm.command(
        "INSERT INTO bronze_trades_binance (event_time, symbol, trade_id, price, quantity, trade_time, is_buyer_maker) "
        f"VALUES ('{_ms(below)}', 'BTCUSDT', {BELOW_ID}, 95000.5, 0.25, '{_ms(below)}', false), "
        f"('{_ms(WATERMARK)}', 'BTCUSDT', {AT_ID}, 95001.5, 0.5, '{_ms(WATERMARK)}', true)"
    )
    offloader = Offloader(settings, warm, lambda: open_catalog(settings))
    for spec in [*BRONZE, get_table("silver_trades"), get_table("gold_ohlcv_1h")]:
        offloader.offload(spec, START, WATERMARK, run_id="test")
    offloader.offload(get_table("silver_trades"), *GAP, run_id="test-gap")  # above the watermark
    yield Tiers(settings, warm, catalog)


def _rows(table: pa.Table) -> list[tuple[object, ...]]:
    """Rows with times as epoch seconds (ClickHouse's Arrow gives DateTime as uint32 seconds)."""
    return [
        tuple(int(value.timestamp()) if isinstance(value, datetime) else value for value in row.values())
        for row in table.to_pylist()
    ]


def test_the_cold_tier_holds_rows_above_the_watermark_too(tiers: Tiers) -> None:
    ledger = read_ledger(tiers.catalog.load_table((tiers.settings.namespace, "silver_trades")))
    assert ledger.watermark == WATERMARK
    assert len(ledger.ranges) == 2  # the gap window is committed but beyond the watermark
    plan = plan_query(tiers.catalog, tiers.settings.namespace, "SELECT count() FROM silver_trades")
    (silver,) = plan.tables
    assert silver.cold is not None and datetime.fromisoformat(silver.cold.watermark) == WATERMARK
    assert [tuple(datetime.fromisoformat(t) for t in r) for r in silver.cold.ranges] == [
        (START, WATERMARK),
        GAP,
    ]


def test_aggregates_over_both_tiers_equal_the_warm_tier(tiers: Tiers) -> None:
    federated = federated_query(tiers.settings, tiers.warm, tiers.catalog, PER_HOUR.format(final=""))
    warm = tiers.warm.arrow(PER_HOUR.format(final=" FINAL"))
    assert federated.column_names == ["exchange", "hour", "trades", "volume"]
    assert pa.types.is_timestamp(federated.schema.field("hour").type)
    assert _rows(federated) == _rows(warm)
    assert {row[0] for row in _rows(federated)} == {"binance", "kraken", "coinbase"}
    assert len(_rows(federated)) == 3 * 3  # three exchanges, three hours

    candles = federated_query(tiers.settings, tiers.warm, tiers.catalog, CANDLES)
    assert candles.num_rows > 0
    assert _rows(candles) == _rows(tiers.warm.arrow(CANDLES))


def test_rows_at_the_watermark_are_counted_once(tiers: Tiers) -> None:
    sql = (
        "SELECT * FROM ("
        "SELECT 'silver' AS t, trade_id, count() AS n, any(trade_time) AS at FROM silver_trades "
        f"WHERE trade_id IN ({BELOW_ID}, {AT_ID}) GROUP BY trade_id "
        "UNION ALL "
        "SELECT 'bronze', trade_id, count(), any(toDateTime64(trade_time, 6, 'UTC')) FROM bronze_trades_binance "
        f"WHERE trade_id IN ({BELOW_ID}, {AT_ID}) GROUP BY trade_id"
        ") ORDER BY t, trade_id"
    )
    rows = federated_query(tiers.settings, tiers.warm, tiers.catalog, sql).to_pylist()
    assert [(row["t"], row["trade_id"], row["n"]) for row in rows] == [
        ("bronze", BELOW_ID, 1),
        ("bronze", AT_ID, 1),
        ("silver", BELOW_ID, 1),
        ("silver", AT_ID, 1),
    ]
    assert rows[1]["at"] == WATERMARK and rows[0]["at"] == WATERMARK - timedelta(milliseconds=1)


def _day_partitions_below(warm: WarmTier, table: str, watermark: datetime) -> list[str]:
    partitions = warm.rows(
        "SELECT DISTINCT partition FROM system.parts WHERE database = currentDatabase() "
        "AND table = {t:String} AND active",
        {"t": table},
    )
    days = [datetime.strptime(str(row[0]), "%Y%m%d").replace(tzinfo=watermark.tzinfo) for row in partitions]
    return [f"{day:%Y%m%d}" for day in days if day + timedelta(days=1) <= watermark]


def test_dropping_warm_days_below_the_watermark_changes_nothing(tiers: Tiers) -> None:
    before = federated_query(tiers.settings, tiers.warm, tiers.catalog, PER_HOUR.format(final=""))
    candles_before = tiers.warm.arrow(CANDLES)
    warm_before = int(str(tiers.warm.rows("SELECT count() FROM silver_trades")[0][0]))
    dropped = []
    for spec in [*BRONZE, get_table("silver_trades")]:
        watermark = read_ledger(tiers.catalog.load_table((tiers.settings.namespace, spec.name))).watermark
        assert watermark is not None and watermark == WATERMARK
        for partition in _day_partitions_below(tiers.warm, spec.name, watermark):
            tiers.warm.command(f"ALTER TABLE `{spec.name}` DROP PARTITION {partition}")
            dropped.append((spec.name, partition))
    assert ("silver_trades", f"{DAY:%Y%m%d}") in dropped  # the 23:00 hour of 11-24 is cold-only now
    assert all(partition == f"{DAY:%Y%m%d}" for _, partition in dropped)
    assert int(str(tiers.warm.rows("SELECT count() FROM silver_trades")[0][0])) < warm_before

    after = federated_query(tiers.settings, tiers.warm, tiers.catalog, PER_HOUR.format(final=""))
    assert _rows(after) == _rows(before)
    candles_after = federated_query(tiers.settings, tiers.warm, tiers.catalog, CANDLES)
    assert _rows(candles_after) == _rows(candles_before)  # the warm Gold view lost that hour; cold did not
    assert tiers.warm.arrow(CANDLES).num_rows < candles_before.num_rows


def test_a_committed_range_past_a_gap_stays_visible_when_its_warm_rows_are_gone(tiers: Tiers) -> None:
    """01:00-01:15 never reached the cold tier (say it failed for good); 01:15-01:30 did, then left warm."""
    missing = (WATERMARK, GAP[0])
    per_window = (
        "SELECT toStartOfFifteenMinutes(trade_time) AS w, count() AS n, sum(price) AS p FROM silver_trades{final} "
        f"WHERE trade_time >= {sql_time(WATERMARK)} AND trade_time < {sql_time(GAP[1])} GROUP BY w ORDER BY w"
    )
    before = federated_query(tiers.settings, tiers.warm, tiers.catalog, per_window.format(final=""))
    assert _rows(before) == _rows(tiers.warm.arrow(per_window.format(final=" FINAL")))
    assert [row[0] for row in _rows(before)] == [
        int(missing[0].timestamp()),
        int(GAP[0].timestamp()),
    ]
    tiers.warm.command(
        f"ALTER TABLE silver_trades DELETE WHERE trade_time >= {sql_time(GAP[0])} AND trade_time < {sql_time(GAP[1])} "
        "SETTINGS mutations_sync = 2"
    )
    assert len(_rows(tiers.warm.arrow(per_window.format(final=" FINAL")))) == 1  # only the uncommitted window

    after = federated_query(tiers.settings, tiers.warm, tiers.catalog, per_window.format(final=""))
    assert _rows(after) == _rows(before)  # the gap window from warm, the committed one from cold, once each


def test_unknown_tables_and_bad_sql_fail_clearly(tiers: Tiers) -> None:
    def run(sql: str) -> pa.Table:
        return federated_query(tiers.settings, tiers.warm, tiers.catalog, sql)

    with pytest.raises(
        UnknownTableError, match=r"unknown table 'silver_trade' \(did you mean 'silver_trades'\?\)"
    ):
        run("SELECT count() FROM silver_trade")
    with pytest.raises(FederatedQueryError, match="syntax error in the query: failed at position"):
        run("SELECT count( FROM silver_trades")
    with pytest.raises(
        FederatedQueryError, match=r"only SELECT queries can be federated \(the query starts with 'DROP'\)"
    ):
        run("DROP TABLE silver_trades")
    with pytest.raises(FederatedQueryError, match="one SELECT statement"):
        run("SELECT 1; SELECT 2")
    with pytest.raises(FederatedQueryError, match="empty"):
        run("  -- nothing\n")


def test_query_forms_keep_the_users_sql() -> None:
    query = parse_query(
        "WITH 2 AS two SELECT two, count() FROM `silver_trades` AS s, default.gold_ohlcv_1h; "
    )
    assert query.tables == ("silver_trades",)  # default.gold_ohlcv_1h is the plain warm table
    assert compose_sql(query, ["`silver_trades` AS (SELECT 1)"]).startswith(
        "WITH\n`silver_trades` AS (SELECT 1),\n 2 AS two SELECT"
    )
    nested = parse_query("(SELECT price FROM silver_trades) UNION ALL (SELECT 'silver_trades')")
    assert nested.tables == ("silver_trades",)
    assert compose_sql(nested, ["x"]).startswith("WITH\nx\nSELECT * FROM (\n(SELECT price")
    assert parse_query("select 1 -- silver_trades").tables == ()
