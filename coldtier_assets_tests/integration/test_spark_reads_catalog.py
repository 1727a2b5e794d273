"""Spark (Iceberg JdbcCatalog) reads and maintains the cold tables pyiceberg's SqlCatalog writes.

Parametrized over the catalog database: the embedded SQLite file and a real PostgreSQL server.
Spark's JVM and SparkContext start once for the module; every test gets a fresh catalog and its
own session on that context (cheap), and the context is stopped at the end of the module.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Operation
from pyspark.sql import SparkSession
from pyspark.sql.types import DecimalType, LongType, StringType, TimestampType
from sqlalchemy import text

from coldtier_assets.config import Settings, load_settings
from coldtier_assets.offload.bootstrap import init_cold
from coldtier_assets.resources.iceberg import open_catalog
from coldtier_assets.resources.spark import build_spark_session, jdbc_catalog_uri, spark_conf
from coldtier_assets.resources.spark_jars import SparkUnavailableError, spark_jars

SILVER = "silver_trades"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)

#: The Arrow twin of ddl/iceberg/silver_trades.sql (every column NOT NULL, timestamptz in µs).
SILVER_ARROW = pa.schema(
    [
        pa.field("exchange", pa.string(), nullable=False),
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("trade_id", pa.int64(), nullable=False),
        pa.field("price", pa.decimal128(18, 8), nullable=False),
        pa.field("quantity", pa.decimal128(18, 8), nullable=False),
        pa.field("quote_amount", pa.decimal128(38, 16), nullable=False),
        pa.field("side", pa.string(), nullable=False),
        pa.field("trade_time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("ingested_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)


def trades(first_id: int, count: int) -> pa.Table:
    """``count`` Silver trades spread over two UTC days (two partitions), with exact decimals."""
    start = datetime(2026, 11, 23, 23, 59, 58, 123456, tzinfo=UTC)
    rows: list[dict[str, Any]] = []
    for offset in range(count):
        trade_id = first_id + offset
        price = Decimal("65000.12345678") + Decimal(trade_id) / Decimal(10**8)
        quantity = Decimal("0.00000001") * (trade_id + 1)
        rows.append(
            {
                "exchange": ("binance", "kraken", "coinbase")[trade_id % 3],
                "symbol": "BTC-USDT",
                "trade_id": trade_id,
                "price": price,
                "quantity": quantity,
                "quote_amount": (price * quantity).quantize(Decimal("1E-16")),
                "side": "buy" if trade_id % 2 else "sell",
                "trade_time": start + timedelta(seconds=offset, microseconds=offset),
                "ingested_at": start + timedelta(seconds=offset + 1),
            }
        )
    # One row with the widest values the decimal types hold (18 and 38 significant digits).
    if count:
        rows[-1]["price"] = Decimal("9999999999.99999999")
        rows[-1]["quote_amount"] = Decimal("1234567890123456789012.1234567890123456")
    return pa.Table.from_pylist(rows, schema=SILVER_ARROW)


def micros(moment: datetime) -> int:
    """Microseconds since the epoch: an exact, time-zone free comparison key."""
    return (moment - EPOCH) // US


def expected_rows(*tables: pa.Table) -> list[tuple[Any, ...]]:
    """The rows of ``tables`` as the tuples :func:`spark_rows` returns, sorted by trade_id."""
    rows = [
        (
            row["exchange"],
            row["symbol"],
            row["trade_id"],
            row["price"],
            row["quantity"],
            row["quote_amount"],
            row["side"],
            micros(row["trade_time"]),
            micros(row["ingested_at"]),
        )
        for table in tables
        for row in table.to_pylist()
    ]
    return sorted(rows, key=lambda row: row[2])


def spark_rows(spark: SparkSession, table: str) -> list[tuple[Any, ...]]:
    """Every row Spark reads from ``table``; timestamps as epoch microseconds."""
    result = spark.sql(
        "SELECT exchange, symbol, trade_id, price, quantity, quote_amount, side, "
        f"unix_micros(trade_time), unix_micros(ingested_at) FROM {table} ORDER BY trade_id"
    ).collect()
    return [tuple(row) for row in result]


def assert_same_decimals(actual: list[tuple[Any, ...]], expected: list[tuple[Any, ...]]) -> None:
    """Equal values (Decimal equality is exact), the decimal columns as :class:`Decimal`, never floats."""
    assert actual == expected
    assert all(isinstance(row[column], Decimal) for row in actual for column in (3, 4, 5))


@pytest.fixture(scope="module")
def spark_context() -> Iterator[None]:
    """Stop this module's SparkContext (shared by all its sessions) when the module is done."""
    yield
    from pyspark import SparkContext

    context = SparkContext._active_spark_context
    if context is not None:
        context.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def cold_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """A fresh coldtier catalog (SQLite file or new PostgreSQL database) with the cold tables created."""
    if request.param == "postgresql":
        catalog_uri = request.getfixturevalue("fresh_pg_database")
    else:
        catalog_uri = f"sqlite:///{tmp_path / 'catalog.db'}"
    settings = load_settings(
        {
            "COLDTIER_HOME": str(tmp_path / "home"),
            "COLDTIER_CATALOG_URI": catalog_uri,
            "COLDTIER_WAREHOUSE": (tmp_path / "warehouse").as_uri(),
        }
    )
    init_cold(open_catalog(settings), settings.namespace)
    return settings


@pytest.fixture
def spark(cold_settings: Settings, spark_context: None) -> SparkSession:
    """A Spark session whose catalog ``cold_settings.catalog_name`` is that coldtier catalog."""
    return build_spark_session(cold_settings, app_name="coldtier-tests")


def silver(catalog: SqlCatalog, settings: Settings) -> Table:
    return catalog.load_table((settings.namespace, SILVER))


@pytest.mark.integration
def test_spark_reads_what_pyiceberg_wrote(cold_settings: Settings, spark: SparkSession) -> None:
    catalog = open_catalog(cold_settings)
    batch = trades(1, 6)
    silver(catalog, cold_settings).append(batch, snapshot_properties={"coldtier.run-id": "abc"})
    name = f"{cold_settings.catalog_name}.{cold_settings.namespace}.{SILVER}"

    assert_same_decimals(spark_rows(spark, name), expected_rows(batch))
    types = {field.name: field.dataType for field in spark.table(name).schema.fields}
    assert types["trade_id"] == LongType()
    assert types["exchange"] == StringType()
    assert types["price"] == DecimalType(18, 8)
    assert types["quote_amount"] == DecimalType(38, 16)
    assert types["trade_time"] == TimestampType()  # timestamptz, not TIMESTAMP_NTZ
    assert not any(field.nullable for field in spark.table(name).schema.fields)
    first = spark.sql(
        f"SELECT date_format(min(trade_time), 'yyyy-MM-dd HH:mm:ss.SSSSSS') FROM {name}"
    ).first()
    assert first is not None and first[0] == "2026-11-23 23:59:58.123456"  # session time zone is UTC

    snapshots = spark.sql(f"SELECT snapshot_id, operation, summary FROM {name}.snapshots").collect()
    assert len(snapshots) == 1
    current = silver(catalog, cold_settings).current_snapshot()
    assert current is not None and snapshots[0]["snapshot_id"] == current.snapshot_id
    assert snapshots[0]["operation"] == "append"
    assert snapshots[0]["summary"]["coldtier.run-id"] == "abc"
    partitions = spark.sql(f"SELECT count(*) FROM {name}.partitions").first()
    assert partitions is not None and partitions[0] == 2

    # The JDBC catalog rows carry pyiceberg's catalog name, the name Spark's catalog must have.
    with catalog.engine.connect() as connection:
        names = connection.execute(text("SELECT DISTINCT catalog_name FROM iceberg_tables")).scalars().all()
    assert names == [cold_settings.catalog_name]

    # A later pyiceberg commit is visible to the very next Spark query (no stale cached table,
    # and on SQLite no lock or old snapshot held by Spark's catalog connection).
    more = trades(100, 3)
    silver(catalog, cold_settings).append(more, snapshot_properties={"coldtier.run-id": "def"})
    assert_same_decimals(spark_rows(spark, name), expected_rows(batch, more))
    run_ids = spark.sql(f"SELECT summary['coldtier.run-id'] FROM {name}.snapshots ORDER BY committed_at")
    assert [row[0] for row in run_ids.collect()] == ["abc", "def"]


@pytest.mark.integration
def test_rewrite_data_files_keeps_rows_and_pyiceberg_reads_on(
    cold_settings: Settings, spark: SparkSession
) -> None:
    catalog = open_catalog(cold_settings)
    first, second = trades(1, 4), trades(50, 4)
    silver(catalog, cold_settings).append(first, snapshot_properties={"coldtier.run-id": "abc"})
    silver(catalog, cold_settings).append(second, snapshot_properties={"coldtier.run-id": "def"})
    before = silver(catalog, cold_settings)
    files_before = before.inspect.files().num_rows
    assert files_before == 4  # two appends x two day partitions
    name = f"{cold_settings.catalog_name}.{cold_settings.namespace}.{SILVER}"

    result = spark.sql(
        f"CALL {cold_settings.catalog_name}.system.rewrite_data_files("
        f"table => '{cold_settings.namespace}.{SILVER}', options => map('min-input-files','1'))"
    ).first()
    assert result is not None
    assert result["rewritten_data_files_count"] == 4
    assert result["added_data_files_count"] == 2  # one per partition
    assert_same_decimals(spark_rows(spark, name), expected_rows(first, second))

    after = silver(catalog, cold_settings)  # pyiceberg reloads the metadata Spark committed
    snapshot = after.current_snapshot()
    assert snapshot is not None and snapshot.summary is not None
    assert snapshot.summary.operation == Operation.REPLACE
    assert after.inspect.files().num_rows == 2
    read_back = after.scan().to_arrow().sort_by("trade_id")
    assert read_back.to_pylist() == pa.concat_tables([first, second]).sort_by("trade_id").to_pylist()

    # pyiceberg commits on top of Spark's commit, and Spark expires the old snapshots.
    third = trades(200, 2)
    after.append(third, snapshot_properties={"coldtier.run-id": "ghi"})
    assert_same_decimals(spark_rows(spark, name), expected_rows(first, second, third))
    cutoff = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S")
    spark.sql(
        f"CALL {cold_settings.catalog_name}.system.expire_snapshots("
        f"table => '{cold_settings.namespace}.{SILVER}', "
        f"older_than => TIMESTAMP '{cutoff}', retain_last => 1)"
    ).collect()
    final = silver(catalog, cold_settings)
    assert len(final.snapshots()) == 1
    assert final.scan().to_arrow().num_rows == 10


@pytest.mark.integration
def test_custom_catalog_name_is_the_spark_catalog(tmp_path: Path, spark_context: None) -> None:
    settings = load_settings(
        {
            "COLDTIER_HOME": str(tmp_path / "home"),
            "COLDTIER_CATALOG_NAME": "lake",
            "COLDTIER_NAMESPACE": "archive",
            "COLDTIER_WAREHOUSE": (tmp_path / "warehouse").as_uri(),
        }
    )
    catalog = open_catalog(settings)
    init_cold(catalog, settings.namespace)
    catalog.load_table(("archive", SILVER)).append(trades(1, 2))
    spark = build_spark_session(settings)
    count = spark.sql(f"SELECT count(*) FROM lake.archive.{SILVER}").first()
    assert count is not None and count[0] == 2
    tables = {row["tableName"] for row in spark.sql("SHOW TABLES IN lake.archive").collect()}
    assert SILVER in tables and len(tables) == 11


def test_catalog_uri_translation(tmp_path: Path) -> None:
    assert jdbc_catalog_uri("sqlite:////var/lib/coldtier/catalog.db") == (
        "jdbc:sqlite:/var/lib/coldtier/catalog.db",
        {},
    )
    assert jdbc_catalog_uri("postgresql://ice%40berg:p%2Fw@db.example:6432/lake?sslmode=require") == (
        "jdbc:postgresql://db.example:6432/lake?sslmode=require",
        {"jdbc.user": "ice@berg", "jdbc.password": "p/w"},
    )
    assert jdbc_catalog_uri("postgresql+psycopg2://postgres@127.0.0.1/coldtier") == (
        "jdbc:postgresql://127.0.0.1/coldtier",
        {"jdbc.user": "postgres"},
    )
    with pytest.raises(SparkUnavailableError, match="in-memory"):
        jdbc_catalog_uri("sqlite://")
    with pytest.raises(SparkUnavailableError, match="sqlite"):
        jdbc_catalog_uri("mysql://host/db")

    settings = load_settings(
        {"COLDTIER_HOME": str(tmp_path), "COLDTIER_CATALOG_URI": "postgresql://u:pw@h/db"}
    )
    conf = spark_conf(settings, extra_conf={"spark.master": "local[1]"})
    assert conf["spark.master"] == "local[1]"
    assert conf["spark.sql.catalog.coldtier"] == "org.apache.iceberg.spark.SparkCatalog"
    assert conf["spark.sql.catalog.coldtier.type"] == "jdbc"
    assert conf["spark.sql.catalog.coldtier.uri"] == "jdbc:postgresql://h/db"
    assert conf["spark.sql.catalog.coldtier.jdbc.password"] == "pw"
    assert conf["spark.sql.catalog.coldtier.jdbc.schema-version"] == "V1"
    assert conf["spark.sql.catalog.coldtier.warehouse"] == settings.warehouse
    jars = [jar.name for jar in spark_jars(settings.catalog_uri)]
    assert jars[0].startswith("iceberg-spark-runtime-3.5_2.12-") and jars[1] == "postgresql.jar"


def test_missing_driver_or_java_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings({"COLDTIER_HOME": str(tmp_path)})
    monkeypatch.setenv("COLDTIER_SQLITE_JDBC_JAR", str(tmp_path / "nope.jar"))
    with pytest.raises(SparkUnavailableError, match="libxerial-sqlite-jdbc-java"):
        spark_jars(settings.catalog_uri)
    monkeypatch.delenv("COLDTIER_SQLITE_JDBC_JAR")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-java"))
    with pytest.raises(SparkUnavailableError, match="JAVA_HOME"):
        build_spark_session(settings)
