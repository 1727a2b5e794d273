"""The Dagster graph end to end: every table through the offload jobs, on SQLite and on PostgreSQL.

On the PostgreSQL variant both the Iceberg catalog and the Dagster instance (dagster-postgres, via
the repo's dagster.yaml) live in a real PostgreSQL server started by the tests.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from coldtier_assets.cli.demo import materialize_range
from coldtier_assets.cli.instance import prepare_dagster_home
from coldtier_assets.config import Settings, load_settings
from coldtier_assets.definitions import build_definitions
from coldtier_assets.offload.status import collect_status
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.resources.iceberg import open_catalog
from coldtier_assets.simulate.feed import simulate_history
from coldtier_assets.tables import TABLES
from coldtier_assets_tests.compare import assert_window_matches
from coldtier_assets_tests.fixtures import DAY

FEED_START = DAY + timedelta(hours=22)


@pytest.fixture
def dagster_backend(
    request: pytest.FixtureRequest,
    catalog_backend: str,
    coldtier_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """The Dagster instance on the same kind of database as the catalog."""
    if catalog_backend == "postgresql":
        url = request.getfixturevalue("fresh_pg_database")
        monkeypatch.setenv("COLDTIER_DAGSTER_PG_URL", url)
        coldtier_env["COLDTIER_DAGSTER_PG_URL"] = url
    return catalog_backend


def test_definitions_have_the_lineage_warm_bronze_silver_gold(settings: Settings) -> None:
    graph = build_definitions(settings).resolve_asset_graph()
    silver = dg.AssetKey(["cold", "silver_trades"])
    assert graph.get(silver).parent_keys == {
        dg.AssetKey(["clickhouse", "silver_trades"]),
        *(dg.AssetKey(["cold", f"bronze_trades_{x}"]) for x in ("binance", "kraken", "coinbase")),
    }
    gold = graph.get(dg.AssetKey(["cold", "gold_ohlcv_1h"]))
    assert gold.parent_keys == {dg.AssetKey(["clickhouse", "gold_ohlcv_1h"]), silver}
    assert gold.kinds == {"iceberg"} and graph.get(dg.AssetKey(["clickhouse", "silver_trades"])).kinds == {
        "clickhouse"
    }
    partitions = {spec.name: graph.get(dg.AssetKey(["cold", spec.name])).partitions_def for spec in TABLES}
    assert partitions["silver_trades"] is partitions["gold_ohlcv_15m"]
    hourly = partitions["gold_ohlcv_1h"]
    assert isinstance(hourly, dg.TimeWindowPartitionsDefinition) and hourly.cron_schedule == "0 * * * *"


def _rejected_rows(instance: dg.DagsterInstance, table: str, partition: str) -> object:
    """The ``rejected_rows`` metadata of the table's latest materialization of ``partition``."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(["cold", table]), asset_partitions=[partition]), limit=1
    ).records
    materialization = records[0].asset_materialization
    assert materialization is not None
    return materialization.metadata["rejected_rows"].value


def test_whole_graph_copies_every_table_exactly(
    dagster_backend: str, coldtier_env: dict[str, str], warm: WarmTier
) -> None:
    settings = load_settings(coldtier_env)
    catalog: SqlCatalog = open_catalog(settings)
    from coldtier_assets.offload.bootstrap import init_all

    init_all(warm, catalog, settings.namespace)
    simulate_history(warm, FEED_START, FEED_START + timedelta(hours=1), seed=21, trades_per_second=20)
    warm.command(  # the trade of issue #10: quantity 0 once failed every Gold table of its window
        "INSERT INTO bronze_trades_binance (event_time, symbol, trade_id, price, quantity, trade_time, is_buyer_maker)"
        " VALUES ('2026-11-24 22:05:00', 'ZZZUSDT', 7, 0.1, 0, '2026-11-24 22:05:00', 0)"
    )
    prepare_dagster_home(settings)
    with dg.DagsterInstance.get() as instance:
        if dagster_backend == "postgresql":
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        runs = materialize_range(settings, DAY, DAY + timedelta(days=1), instance)
        assert [run.success for run in runs] == [True] * 4
        recorded = instance.get_runs()
        assert len(recorded) == 4
        materialized = instance.get_materialized_partitions(dg.AssetKey(["cold", "silver_trades"]))
        assert len(materialized) == 96
        assert _rejected_rows(instance, "bronze_trades_binance", "2026-11-24-22:00") == 1
        assert _rejected_rows(instance, "bronze_trades_kraken", "2026-11-24-22:00") == 0
        accounted = instance.event_log_storage.get_asset_check_partition_info(
            [dg.AssetCheckKey(dg.AssetKey(["cold", "rejected_trades"]), "bronze_equals_silver_plus_rejected")]
        )
        # one evaluation per partition of the run's range (what the Checks tab reads)
        outcomes = {info.partition_key: info.latest_execution_status.value for info in accounted}
        assert len(outcomes) == 96 and set(outcomes.values()) == {"SUCCEEDED"}, outcomes
    for spec in TABLES:
        assert_window_matches(warm, catalog, settings.namespace, spec, DAY, DAY + timedelta(days=1))
    statuses = {status.table: status for status in collect_status(warm, catalog, settings.namespace)}
    assert all(status.watermark == DAY + timedelta(days=1) for status in statuses.values())
    silver = statuses["silver_trades"]
    assert silver.cold_rows == silver.warm_rows and (silver.warm_rows or 0) > 0
