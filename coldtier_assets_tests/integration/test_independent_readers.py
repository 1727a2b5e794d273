"""Two independent readers of the cold tier agree with the warm tier after an offload through Dagster.

ClickHouse's own Iceberg reader (``icebergLocal`` in chDB) recomputes each table's row count and
content checksum from the Parquet and metadata files; Spark with the Iceberg runtime reads every
row through the JDBC catalog (the same SQLite catalog database pyiceberg writes).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import dagster as dg
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from coldtier_assets.cli.demo import materialize_range
from coldtier_assets.cli.instance import prepare_dagster_home
from coldtier_assets.config import Settings, load_settings
from coldtier_assets.offload.bootstrap import init_all
from coldtier_assets.offload.source import check_source, row_hash_expression, sql_time, warm_checksum
from coldtier_assets.offload.windows import Window
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.resources.iceberg import open_catalog
from coldtier_assets.resources.spark import build_spark_session
from coldtier_assets.simulate.feed import simulate_history
from coldtier_assets.tables import TABLES
from coldtier_assets_tests.compare import cold_columns, warm_rows
from coldtier_assets_tests.fixtures import DAY, embedded_env

pytestmark = pytest.mark.integration
FULL_DAY = Window(DAY, DAY + timedelta(days=1))


@pytest.fixture(scope="module")
def offloaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A day copied through the Dagster jobs once for the module (both readers look at the same tables)."""
    env = embedded_env(tmp_path_factory.mktemp("readers") / "coldtier")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        settings = load_settings(env)
        warm = WarmTier(settings.warm_dsn)
        init_all(warm, open_catalog(settings), settings.namespace)
        feed_start = DAY + timedelta(hours=23)
        simulate_history(warm, feed_start, feed_start + timedelta(minutes=30), seed=9, trades_per_second=8)
        warm.command(  # two trades the trade rule quarantines, so that rejected_trades has rows too
            "INSERT INTO bronze_trades_coinbase (trade_id, product_id, price, size, side, time) VALUES "
            "(1, 'BTC-USD', 0, 1, 'buy', '2026-11-24 23:05:00'), (2, '', 90000, -1, 'sell', '2026-11-24 23:06:00')"
        )
        prepare_dagster_home(settings)
        with dg.DagsterInstance.get() as instance:
            assert all(run.success for run in materialize_range(settings, DAY, FULL_DAY.end, instance))
        yield settings


@pytest.fixture
def warm(offloaded: Settings) -> WarmTier:
    return WarmTier(offloaded.warm_dsn)


@pytest.fixture
def catalog(offloaded: Settings) -> SqlCatalog:
    return open_catalog(offloaded)


def clickhouse_iceberg_reader(sql: str) -> str:
    """Run ``sql`` in a separate process with its own in-memory chDB (not the warm tier's engine).

    chDB only reads files inside its working directory, so the reader runs from ``/``.
    """
    script = "import chdb, sys; print(chdb.connect(':memory:').query(sys.argv[1], 'CSV').data().strip())"
    result = subprocess.run(
        [sys.executable, "-c", script, sql], cwd="/", capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_clickhouse_iceberg_reader_agrees_with_the_warm_tier(
    offloaded: Settings, warm: WarmTier, catalog: SqlCatalog
) -> None:
    for spec in TABLES:
        table = catalog.load_table((offloaded.namespace, spec.name))
        source = check_source(warm, spec, table.schema())
        location = table.location().removeprefix("file://")
        column = f"`{spec.time_column}`"
        cold = clickhouse_iceberg_reader(
            f"SELECT count(), sum({row_hash_expression(table.schema())}) FROM icebergLocal('{location}') "
            f"WHERE {column} >= {sql_time(FULL_DAY.start)} AND {column} < {sql_time(FULL_DAY.end)}"
        )
        expected = warm_checksum(warm, source, FULL_DAY)
        assert expected[0] > 0, spec.name
        assert tuple(int(value) for value in cold.split(",")) == expected, spec.name


def _python_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def test_spark_reads_every_row_the_warm_tier_has(
    offloaded: Settings, warm: WarmTier, catalog: SqlCatalog
) -> None:
    spark = build_spark_session(offloaded, extra_conf={"spark.sql.session.timeZone": "UTC"})
    for spec in TABLES:
        columns = cold_columns(catalog, offloaded.namespace, spec)
        frame = spark.table(f"{offloaded.catalog_name}.{offloaded.namespace}.{spec.name}")
        spark_rows = sorted(
            tuple(_python_value(row[name]) for name in columns) for row in frame.select(*columns).collect()
        )
        expected = warm_rows(warm, spec, FULL_DAY.start, FULL_DAY.end, columns)
        assert len(spark_rows) == len(expected), spec.name
        assert spark_rows == expected, spec.name
        assert all(
            isinstance(row[columns.index("price" if "price" in columns else "open")], Decimal)
            for row in spark_rows
        )
