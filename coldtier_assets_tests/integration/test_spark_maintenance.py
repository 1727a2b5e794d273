"""Maintenance with Iceberg's own Spark procedures (``COLDTIER_MAINTENANCE_ENGINE=spark``), in real Spark.

Spark 3.5 / Iceberg 1.10 in local mode, through the JDBC catalog over the same SQLite file or
PostgreSQL database pyiceberg writes. The JVM starts once for the module (about 20 s); each test gets
its own session on it. Binance trades over two days (two small files in each day's partition) and a
third day of one file: Spark must compact exactly the two busy partitions, expire, remove an old
orphan but not a young one, and leave the rows, the checksums, the ledger and every reader (chDB,
pyiceberg, ``status``) as they were, with the same ``maintenance_audit_log`` rows as the pyiceberg
engine. The Dagster job runs the same through its dagster-pyspark resource.

The warehouse is a fixture parameter: a local directory, and a real S3 server (moto's standalone
server, through Spark's S3A file system). S3 runs with the PostgreSQL catalog, the production
pairing; SQLite with S3 would add a minute of Spark and exercise no other code.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest
from dagster_pyspark import LazyPySparkResource
from typer.testing import CliRunner

from coldtier_assets.config import load_settings
from coldtier_assets.maintenance.audit_log import read_audit_rows
from coldtier_assets.maintenance.policy import MaintenancePolicy
from coldtier_assets.maintenance.runner import TABLE_ACTIONS, run_maintenance
from coldtier_assets.maintenance.state import live_data_files, table_state
from coldtier_assets.offload.sink import LEDGER_KEY, read_ledger
from coldtier_assets.offload.status import table_status
from coldtier_assets.offload.verify import Verdict, verify_windows
from coldtier_assets.offload.windows import Window, split_windows
from coldtier_assets.resources.spark import build_spark_session, spark_conf
from coldtier_assets.simulate.feed import simulate_history
from coldtier_assets_tests.fixtures import DAY, embedded_env
from coldtier_assets_tests.maintenance_fixtures import BINANCE, M15, Coldtier, make_coldtier
from coldtier_assets_tests.s3_server import S3Server, running_s3

#: Two busy partitions: 23:30 → 00:30 across midnight, two 15-minute windows (files) on each day.
BUSY_START = DAY + timedelta(hours=23, minutes=30)
BUSY_END = BUSY_START + timedelta(hours=1)
#: A quiet partition two days later: one window, one file (nothing to compact there).
QUIET = Window(DAY + timedelta(days=3, hours=10), DAY + timedelta(days=3, hours=10, minutes=15))
PASSWORD = f"hunter2-{os.getpid()}"


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    """This module's S3 server, without IAM: moto refuses the S3A (AWS SDK v1) signatures (s3_server.py)."""
    with running_s3(iam=False) as server:
        yield server


@pytest.fixture(scope="module")
def spark_jvm(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server) -> Iterator[None]:
    """Start Spark's JVM once for the module (sessions of later tests share it), stop it at the end.

    Started with an S3 warehouse's settings, so the JVM has the S3A jars and endpoint, and with the
    server's key in its environment, where S3A reads credentials (jars and environment are fixed
    when a JVM starts); local-disk tests do not use them.
    """
    home = tmp_path_factory.mktemp("spark-jvm") / "coldtier"
    s3_env = s3_server.env(f"s3://{s3_server.new_bucket()}/warehouse")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in s3_env.items():
            patch.setenv(name, value)
        settings = load_settings(embedded_env(home, **s3_env))
        session = build_spark_session(settings, app_name="coldtier-spark-maintenance")
    yield
    session.stop()


@pytest.fixture(params=["local", "s3"])
def warehouse(request: pytest.FixtureRequest, coldtier_env: dict[str, str]) -> str:
    """Where the cold tier lives: the embedded directory under COLDTIER_HOME, or a bucket on moto."""
    del coldtier_env
    if request.param == "s3":
        if (
            "catalog_backend" in request.fixturenames
            and request.getfixturevalue("catalog_backend") == "sqlite"
        ):
            pytest.skip("S3 runs with the PostgreSQL catalog only (see the module docstring)")
        request.getfixturevalue("s3_warehouse")
    return str(request.param)


def _fed(env: Coldtier) -> Coldtier:
    for start, end in ((BUSY_START, BUSY_END), (QUIET.start, QUIET.end)):
        simulate_history(env.warm, start, end, seed=11, trades_per_second=1)
        env.offloader().offload(BINANCE, start, end, run_id="spark-maintenance")
    return env


def _rows(env: Coldtier) -> pa.Table:
    """Every cold row through pyiceberg, in one total order."""
    data = env.table().scan().to_arrow()
    return data.sort_by([(name, "ascending") for name in data.column_names])


def _files_by_partition(env: Coldtier) -> dict[str, set[str]]:
    table = env.table()
    spec, schema = table.spec(), table.schema()
    files: dict[str, set[str]] = {}
    for file in live_data_files(table):
        files.setdefault(spec.partition_to_path(file.partition, schema), set()).add(file.file_path)
    return files


def _age_local_file(location: str, days: float) -> None:
    """Make a file under a local warehouse look ``days`` old (its mtime, which orphan removal reads)."""
    moment = time.time() - days * 86400
    os.utime(location.removeprefix("file://"), (moment, moment))


def _stray_files(env: Coldtier) -> tuple[str, str]:
    """An unreferenced file four days old (an orphan) and one written just now (maybe a commit in flight).

    Written through the table's FileIO, so the same works on any warehouse. Only the ageing is
    local: an object store sets its own modification time, and Spark checks ``older_than`` against
    the real clock (it refuses less than 24 hours), so on S3 both files are young and both must stay:
    the S3 case proves Spark lists the table through S3A and deletes nothing live or young; the
    deletion of an aged orphan is proven on local disk.
    """
    table = env.table()
    data = f"{table.location().rstrip('/')}/data"
    old, young = f"{data}/crashed-writer-4-days-ago.parquet", f"{data}/writer-in-flight.parquet"
    for location in (old, young):
        with table.io.new_output(location).create(overwrite=True) as stream:
            stream.write(b"PAR1 not referenced")
    if old.startswith("file:") or old.startswith("/"):
        _age_local_file(old, days=4)
    return old, young


def _exists(env: Coldtier, location: str) -> bool:
    return env.table().io.new_input(location).exists()


@pytest.mark.usefixtures("spark_jvm")
def test_spark_procedures_compact_expire_and_remove_orphans_losing_nothing(
    catalog_backend: str,
    warehouse: str,
    coldtier_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    if catalog_backend == "postgresql":  # trust auth ignores it: only to prove it is never shown
        uri = coldtier_env["COLDTIER_CATALOG_URI"].replace("postgres@", f"postgres:{PASSWORD}@")
        monkeypatch.setenv("COLDTIER_CATALOG_URI", uri)
        coldtier_env["COLDTIER_CATALOG_URI"] = uri
    env = _fed(make_coldtier(coldtier_env))
    ledger, rows, state = env.table().metadata.properties[LEDGER_KEY], _rows(env), table_state(env.table())
    partitions = _files_by_partition(env)
    assert sorted(len(files) for files in partitions.values()) == [1, 2, 2]
    quiet = next(files for files in partitions.values() if len(files) == 1)
    old_orphan, young_orphan = _stray_files(env)
    spark = build_spark_session(env.settings, app_name="coldtier-maintenance")
    on_s3 = warehouse == "s3"
    assert env.table().location().startswith("s3://" if on_s3 else "file:")

    logged = run_maintenance(
        env.settings,
        env.warm,
        env.catalog,
        [BINANCE.name],
        policy=MaintenancePolicy(snapshot_max_age=timedelta(0), min_snapshots_to_keep=1),
        spark=spark,
    )

    assert [(row.action, row.outcome) for row in logged] == [(action, "success") for action in TABLE_ACTIONS]
    compact, expire, orphans, audit = logged
    assert "Spark rewrite_data_files (binpack) on 2 partition(s)" in compact.message
    assert "4→2 files" in compact.message
    assert (compact.files_before, compact.files_after) == (5, 3)
    assert compact.rows_before == compact.rows_after == state.rows
    assert "Spark expire_snapshots" in expire.message
    assert audit.message.startswith("rows and checksum unchanged"), audit.message
    assert audit.rows_before == audit.rows_after == state.rows
    # the same rows in the audit log as the pyiceberg engine writes (one per action, with ids)
    stored = read_audit_rows(env.settings.catalog_uri, table_name=BINANCE.name)
    assert sorted((row.action, row.outcome, row.id is not None) for row in stored) == sorted(
        (action, "success", True) for action in TABLE_ACTIONS
    )
    # fewer files: one per busy partition, the quiet partition untouched
    after = _files_by_partition(env)
    assert sorted(len(files) for files in after.values()) == [1, 1, 1] and quiet in after.values()
    # the ledger survives; Spark's replace snapshot is all that is left on main
    table = env.table()
    assert table.metadata.properties[LEDGER_KEY] == ledger and read_ledger(table).encode() == ledger
    current = table.current_snapshot()
    assert current is not None and current.summary is not None
    assert current.summary.operation.value == "replace"
    assert len(table.metadata.snapshots) == 2  # the compaction and the audit's protected snapshot
    # orphans: the old one is gone, the young one (maybe a commit in flight) stays
    assert _exists(env, old_orphan) == on_s3 and _exists(env, young_orphan)  # S3: both young (see above)
    assert orphans.files_before is not None and orphans.files_after == orphans.files_before - (not on_s3)
    # every reader agrees: pyiceberg row by row, chDB per window (count and checksum), status
    assert _rows(env).equals(rows)
    windows = [*split_windows(BUSY_START, BUSY_END, M15), QUIET]
    checks = verify_windows(env.settings, env.warm, env.table(), BINANCE, windows)
    assert [check.verdict for check in checks] == [Verdict.MATCH] * len(windows)
    status = table_status(env.warm, env.catalog, env.settings.namespace, BINANCE, datetime.now(UTC))
    assert (status.cold_rows, status.files, status.watermark) == (state.rows, 3, read_ledger(table).watermark)
    # the catalog password is in no log line, message or Spark output
    captured = capfd.readouterr()
    assert PASSWORD not in captured.out + captured.err
    assert all(PASSWORD not in row.message for row in stored)


@pytest.mark.usefixtures("spark_jvm")  # local warehouse: the engine's S3 case is the test above
def test_the_dagster_maintenance_job_runs_on_spark_through_dagster_pyspark(
    coldtier_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from coldtier_assets.cli.main import app
    from coldtier_assets.definitions import build_definitions

    monkeypatch.setenv("COLDTIER_MAINTENANCE_ENGINE", "spark")
    env = _fed(make_coldtier(coldtier_env))
    rows = _rows(env)
    defs = build_definitions(env.settings)
    assert defs.resources is not None and isinstance(defs.resources["spark"], LazyPySparkResource)
    job = defs.resolve_job_def("maintenance")
    config = {"ops": {"maintain_cold_tables": {"config": {"tables": [BINANCE.name]}}}}

    with dg.DagsterInstance.ephemeral() as instance:
        with monkeypatch.context() as broken:  # Spark cannot start: one clear error, nothing touched
            broken.setenv("COLDTIER_SQLITE_JDBC_JAR", str(env.settings.home / "missing.jar"))
            failed = job.execute_in_process(run_config=config, instance=instance, raise_on_error=False)
        failure = failed.failure_data_for_node("maintain_cold_tables")
        assert not failed.success and failure is not None and failure.user_failure_data is not None
        reason = failure.user_failure_data.description or ""
        assert reason.startswith("COLDTIER_MAINTENANCE_ENGINE=spark, but JDBC driver")
        assert "apt-get install libxerial-sqlite-jdbc-java" in reason
        assert read_audit_rows(env.settings.catalog_uri) == [] and _rows(env).equals(rows)
        result = job.execute_in_process(run_config=config, instance=instance)

    assert result.success
    assert result.output_for_node("maintain_cold_tables") == len(TABLE_ACTIONS)
    (output,) = [
        event for event in result.events_for_node("maintain_cold_tables") if event.is_successful_output
    ]
    assert output.step_output_data.metadata["engine"] == dg.TextMetadataValue("spark")
    logged = read_audit_rows(env.settings.catalog_uri, table_name=BINANCE.name)
    by_action = {row.action: row for row in logged}
    assert set(by_action) == set(TABLE_ACTIONS) and all(row.outcome == "success" for row in logged)
    assert by_action["compact"].message.startswith("Spark rewrite_data_files")
    assert by_action["audit"].message.startswith("rows and checksum unchanged")
    assert table_state(env.table()).files == 3 and _rows(env).equals(rows)

    # `coldtier maintain` takes the same engine setting (nothing left to compact now)
    done = CliRunner().invoke(app, ["maintain", "--table", BINANCE.name])
    assert done.exit_code == 0, done.output
    latest = {row.action: row for row in read_audit_rows(env.settings.catalog_uri, limit=len(TABLE_ACTIONS))}
    assert latest["compact"].message.startswith("nothing to compact")
    assert latest["expire_snapshots"].message.startswith("Spark expire_snapshots")
    assert all(row.outcome == "success" for row in latest.values())


def test_spark_conf_takes_master_and_executor_settings_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings(
        embedded_env(
            tmp_path,
            COLDTIER_SPARK_MASTER="spark://spark-master:7077",
            COLDTIER_SPARK_CONF="spark.executor.memory=8g,spark.executor.cores=4,spark.jars=/opt/extra.jar",
        )
    )
    conf = spark_conf(settings)
    assert conf["spark.master"] == "spark://spark-master:7077"
    assert (conf["spark.executor.memory"], conf["spark.executor.cores"]) == ("8g", "4")
    assert "spark.driver.host" not in conf and "spark.driver.memory" not in conf  # the cluster's own
    jars = conf["spark.jars"].split(",")
    assert "/opt/extra.jar" in jars and any("iceberg-spark-runtime" in jar for jar in jars)
    assert (
        conf["spark.sql.catalog.coldtier.type"] == "jdbc"
    )  # the catalog is coldtier's, whatever the env says
    local = spark_conf(load_settings(embedded_env(tmp_path)))
    assert local["spark.master"] == "local[2]" and local["spark.driver.host"] == "127.0.0.1"
