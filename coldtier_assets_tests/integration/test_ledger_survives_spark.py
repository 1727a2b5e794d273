"""The ledger survives another engine's maintenance: real Spark procedures after a real retention drop.

One module-scoped scenario (Spark's JVM takes about a minute to start): two simulated days, every
table offloaded, retention drops the older day from ClickHouse, and one table is rewritten the way
the previous coldtier version wrote it (ledger only in snapshot summaries) and then touched once
(``init``: its first use). Then Spark 3.5 / Iceberg 1.10, through the same catalog, runs
``rewrite_data_files``, ``expire_snapshots(older_than => now, retain_last => 1)`` and
``remove_orphan_files`` on every table, and a foreign ``INSERT`` into one. Every figure coldtier
derives from the ledger must be what it was before Spark touched the tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from pyspark.sql import SparkSession
from typer.testing import CliRunner

from coldtier_assets.cli.main import app
from coldtier_assets.defs.sensors.planning import plan_closed_windows
from coldtier_assets.federated.run import federated_query
from coldtier_assets.maintenance.retention import apply_retention
from coldtier_assets.offload.bootstrap import init_cold
from coldtier_assets.offload.sink import LEDGER_KEY, coldtier_property, read_ledger
from coldtier_assets.offload.windows import Ledger, Window
from coldtier_assets.resources.spark import build_spark_session
from coldtier_assets.simulate.feed import simulate_history
from coldtier_assets.tables import TABLES, get_table
from coldtier_assets_tests.fixtures import embedded_env
from coldtier_assets_tests.maintenance_fixtures import Coldtier, commit_the_old_way, make_coldtier

OLD_DAY = datetime(2026, 11, 20, tzinfo=UTC)
NEW_DAY = OLD_DAY + timedelta(days=1)
END = NEW_DAY + timedelta(days=1)
#: The table written the old way (ledger only in summaries) before its first use by this version.
MIGRATED = get_table("bronze_trades_kraken")
FOREIGN = get_table("bronze_trades_coinbase")  # Spark INSERTs a row into it
FOREIGN_TIME = "2026-11-25 12:00:00"  # after both days
QUERIES = {
    "silver": "SELECT count(*), sum(price) FROM silver_trades",
    "gold": "SELECT count(*), sum(close), sum(volume) FROM gold_ohlcv_1h",
}


@dataclass(frozen=True)
class Observed:
    """Everything coldtier derives from the ledgers."""

    ledgers: dict[str, Ledger]
    watermarks: dict[str, datetime | None]
    queries: dict[str, list[tuple[object, ...]]]
    planned: list[str]
    verify_output: str
    verify_exit: int


@dataclass(frozen=True)
class Scenario:
    """The coldtier and what it observed before and after Spark's maintenance."""

    env: Coldtier
    dropped: list[str]
    before: Observed
    after: Observed
    summaries_left: list[str]


def observe(env: Coldtier, home: Path) -> Observed:
    """Ledgers, watermarks, federated figures, the offload sensor's plan and `coldtier verify`."""
    ledgers = {spec.name: read_ledger(env.table(spec)) for spec in TABLES}
    queries = {
        name: [
            tuple(row.values())
            for row in federated_query(env.settings, env.warm, env.catalog, sql).to_pylist()
        ]
        for name, sql in QUERIES.items()
    }
    now = END + env.settings.allowed_lateness + timedelta(seconds=1)  # every window of both days closed
    with dg.instance_for_test() as instance:
        plan = plan_closed_windows(env.settings, env.catalog, instance, now)
    result = CliRunner().invoke(
        app,
        ["verify", "--since", OLD_DAY.isoformat(), "--until", END.isoformat()],
        env=embedded_env(home),
    )
    return Observed(
        ledgers=ledgers,
        watermarks={name: ledger.watermark for name, ledger in ledgers.items()},
        queries=queries,
        planned=[f"{request.job} {request.label} {request.tables}" for request in plan.requests],
        verify_output=result.output,
        verify_exit=result.exit_code,
    )


def spark_maintenance(spark: SparkSession, env: Coldtier) -> None:
    """Spark's own procedures on every table, then a foreign INSERT into one."""
    catalog, namespace = env.settings.catalog_name, env.settings.namespace
    cutoff = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S")
    for spec in TABLES:
        table = f"{namespace}.{spec.name}"
        spark.sql(
            f"CALL {catalog}.system.rewrite_data_files(table => '{table}', options => map('min-input-files','1'))"
        ).collect()
        spark.sql(
            f"CALL {catalog}.system.expire_snapshots(table => '{table}', "
            f"older_than => TIMESTAMP '{cutoff}', retain_last => 1)"
        ).collect()
        spark.sql(f"CALL {catalog}.system.remove_orphan_files(table => '{table}')").collect()
        remove_orphans_now(spark, f"{catalog}.{table}")
    names = [field.name for field in env.table(FOREIGN).schema().fields]
    select = [
        f"TIMESTAMP '{FOREIGN_TIME}' AS {name}" if name == FOREIGN.time_column else name for name in names
    ]
    spark.sql(  # a trade outside every committed window: the ledger, not the data, is what changes hands
        f"INSERT INTO {catalog}.{namespace}.{FOREIGN.name} ({', '.join(names)}) "
        f"SELECT {', '.join(select)} FROM {catalog}.{namespace}.{FOREIGN.name} LIMIT 1"
    ).collect()


def remove_orphans_now(spark: SparkSession, table: str) -> None:
    """Iceberg's own orphan-file removal with no age margin, so the expired snapshots' files go now.

    The ``remove_orphan_files`` procedure refuses an ``older_than`` under 24 hours and these files are
    minutes old; Iceberg's Action API (the procedure's implementation) takes any cutoff.
    """
    jvm: Any = spark._jvm  # pyright: ignore[reportPrivateUsage]
    session: Any = spark._jsparkSession  # pyright: ignore[reportPrivateUsage]
    iceberg_table = jvm.org.apache.iceberg.spark.Spark3Util.loadIcebergTable(session, table)
    actions = jvm.org.apache.iceberg.spark.actions.SparkActions.get(session)
    cutoff_ms = int((datetime.now(UTC) + timedelta(minutes=1)).timestamp() * 1000)
    actions.deleteOrphanFiles(iceberg_table).olderThan(cutoff_ms).execute()


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    home = tmp_path_factory.mktemp("spark-ledger") / "coldtier"
    env = make_coldtier(embedded_env(home))
    for day in (OLD_DAY, NEW_DAY):
        simulate_history(
            env.warm, day + timedelta(hours=10), day + timedelta(hours=11), seed=3, trades_per_second=2
        )
        # quantity-0 trades are quarantined; two windows give rejected_trades two files per day (Spark's
        # binpack leaves a partition of one file alone)
        for trade_id, minutes in ((7, 5), (8, 20)):
            moment = f"{day + timedelta(hours=10, minutes=minutes):%Y-%m-%d %H:%M:%S}"
            env.warm.command(
                "INSERT INTO bronze_trades_binance (event_time, symbol, trade_id, price, quantity, trade_time, "
                f"is_buyer_maker) VALUES ('{moment}', 'ZZZUSDT', {trade_id}, 0.1, 0, '{moment}', 0)"
            )
    offloader = env.offloader()
    for spec in TABLES:
        offloader.offload(spec, OLD_DAY, END, run_id="two-days")
    busy = Window(NEW_DAY + timedelta(hours=10), NEW_DAY + timedelta(hours=10, minutes=15))
    commit_the_old_way(env, MIGRATED, busy)
    assert LEDGER_KEY not in env.table(MIGRATED).metadata.properties
    decisions = apply_retention(
        env.settings, env.warm, env.catalog, retention_days=2, now=END + timedelta(days=1)
    )
    dropped = sorted(f"{d.table} {d.day}" for d in decisions if d.dropped)
    init_cold(env.catalog, env.settings.namespace)  # the first use of the old-style table by this version
    before = observe(env, home)
    spark = build_spark_session(env.settings, app_name="coldtier-ledger-tests")
    try:
        spark_maintenance(spark, env)
    finally:
        spark.stop()
    after = observe(env, home)
    summaries_left = [  # tables that still hold a coldtier snapshot summary
        spec.name
        for spec in TABLES
        for snapshot in env.table(spec).metadata.snapshots
        if coldtier_property(snapshot, "coldtier.window-start") is not None
    ]
    yield Scenario(env, dropped, before, after, summaries_left)


@pytest.mark.integration
def test_retention_dropped_the_older_day_and_spark_erased_every_coldtier_summary(scenario: Scenario) -> None:
    assert scenario.dropped == [
        f"{spec.name} {OLD_DAY.date()}"
        for spec in sorted(TABLES, key=lambda s: s.name)
        if spec.layer != "gold"
    ]
    assert scenario.summaries_left == []  # the audit trail is gone: only the property can tell
    assert all(len(scenario.env.table(spec).metadata.snapshots) == 1 for spec in TABLES if spec != FOREIGN)
    assert len(scenario.env.table(FOREIGN).metadata.snapshots) == 2  # Spark's rewrite, then its INSERT
    assert scenario.env.table(MIGRATED).metadata.properties[LEDGER_KEY]


@pytest.mark.integration
def test_watermarks_and_ledgers_are_unchanged(scenario: Scenario) -> None:
    both_days = (Window(OLD_DAY, END).epoch_range,)
    assert all(ledger.ranges == both_days for ledger in scenario.before.ledgers.values())
    assert scenario.after.ledgers == scenario.before.ledgers
    assert scenario.after.watermarks == scenario.before.watermarks
    assert set(scenario.after.watermarks.values()) == {END}


@pytest.mark.integration
def test_verify_reports_every_window_verified(scenario: Scenario) -> None:
    for observed in (scenario.before, scenario.after):
        assert observed.verify_exit == 0, observed.verify_output
        assert "not copied" not in observed.verify_output and "mismatch" not in observed.verify_output
        assert observed.verify_output.count("✓") == len(TABLES)
    assert "purged from warm" in scenario.after.verify_output  # the dropped day, verified from cold


@pytest.mark.integration
def test_the_offload_sensor_plans_nothing(scenario: Scenario) -> None:
    assert scenario.before.planned == []
    assert scenario.after.planned == []


@pytest.mark.integration
def test_federated_count_and_sums_are_unchanged(scenario: Scenario) -> None:
    assert scenario.after.queries == scenario.before.queries
    ((silver_rows, _),) = scenario.after.queries["silver"]
    assert isinstance(silver_rows, int) and silver_rows > 0
    warm_rows = int(str(scenario.env.warm.rows("SELECT count() FROM silver_trades FINAL")[0][0]))
    assert silver_rows > warm_rows  # the dropped day comes from the cold tier
