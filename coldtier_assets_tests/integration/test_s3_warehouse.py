"""The cold tier on a real S3 server (moto, IAM authentication on), end to end (#11 item 1).

The same commands as on local disk — ``coldtier init``, the Dagster offload job with every asset
check, ``verify``, status, a federated ``query``, maintenance (compaction, expiry, orphan
removal) — against ``s3://<bucket>/warehouse``; then independent readers (chDB ``icebergS3`` in its
own process, pyiceberg, Spark through Hadoop S3A) read the same objects. ``init`` writes nothing
outside the prefix; a missing bucket and a wrong secret each give one clear line, never the secret.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

import dagster as dg
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from coldtier_assets.cli.instance import prepare_dagster_home
from coldtier_assets.config import Settings, load_settings
from coldtier_assets.definitions import build_definitions
from coldtier_assets.defs.checks.asset_checks import check_names
from coldtier_assets.defs.jobs import offload_job_name
from coldtier_assets.defs.partitions import PARTITION_FORMAT
from coldtier_assets.errors import WarehouseAccessDeniedError, WarehouseBucketMissingError
from coldtier_assets.maintenance.orphans import list_table_files
from coldtier_assets.maintenance.runner import raise_for_failures, run_maintenance
from coldtier_assets.offload.bootstrap import init_all
from coldtier_assets.offload.cold_location import iceberg_table_function
from coldtier_assets.offload.pipeline import Offloader
from coldtier_assets.offload.sink import read_ledger
from coldtier_assets.offload.status import collect_status
from coldtier_assets.offload.windows import Window
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.resources.iceberg import open_catalog
from coldtier_assets.simulate.feed import simulate_history
from coldtier_assets.tables import TableSpec, get_table
from coldtier_assets_tests.cli_runner import assert_one_line_failure, cli_env, run_cli
from coldtier_assets_tests.compare import assert_window_matches
from coldtier_assets_tests.fixtures import DAY
from coldtier_assets_tests.s3_server import S3Server, running_s3

pytestmark = pytest.mark.integration

START = DAY + timedelta(hours=22)
WINDOW = timedelta(minutes=15)
KEYS = [(START + i * WINDOW).strftime(PARTITION_FORMAT) for i in range(2)]
HOUR = Window(START, START + 2 * WINDOW)  # two 15-minute windows
SILVER, BINANCE, GOLD = (
    get_table("silver_trades"),
    get_table("bronze_trades_binance"),
    get_table("gold_ohlcv_15m"),
)
REJECTED = get_table("rejected_trades")
CHILD = "coldtier_assets_tests.integration.offload_child"


def _no_secret(server: S3Server, *texts: str) -> None:
    for text in texts:
        assert server.secret_access_key not in text


def _cli(args: list[str], env: dict[str, str], server: S3Server) -> str:
    result = run_cli(args, env)
    assert result.returncode == 0, result.stderr
    _no_secret(server, result.stdout, result.stderr)
    return result.stdout


def _offload_with_checks(settings: Settings) -> None:
    """The Dagster offload job over two 15-minute partitions (Bronze, rejected, Silver, Gold 15m), every check."""
    prepare_dagster_home(settings)
    specs = [
        *(get_table(f"bronze_trades_{name}") for name in ("binance", "kraken", "coinbase")),
        REJECTED,
        SILVER,
        GOLD,
    ]
    keys = {dg.AssetKey(["cold", spec.name]) for spec in specs}
    checks = {
        dg.AssetCheckKey(dg.AssetKey(["cold", spec.name]), name)
        for spec in specs
        for name in check_names(spec)
    }
    job = build_definitions(settings).resolve_job_def(offload_job_name(WINDOW))
    job = job.get_subset(asset_selection=keys, asset_check_selection=checks)
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": KEYS[0],
                "dagster/asset_partition_range_end": KEYS[-1],
            },
        )
    evaluations = result.get_asset_check_evaluations()
    assert {(e.asset_key, e.check_name) for e in evaluations} == {(c.asset_key, c.name) for c in checks}
    assert all(evaluation.passed for evaluation in evaluations), [
        (e.asset_key.to_user_string(), e.check_name) for e in evaluations if not e.passed
    ]


def _chdb_reads(settings: Settings, catalog: SqlCatalog, spec: TableSpec) -> int:
    """Rows of the cold table as a separate chDB process reads them straight from S3 (``icebergS3``)."""
    table = catalog.load_table((settings.namespace, spec.name))
    sql = f"SELECT count() FROM {iceberg_table_function(table.location())}"
    code = "import chdb, sys; print(chdb.query(sys.argv[1], 'CSV').data().strip())"
    done = subprocess.run(
        [sys.executable, "-c", code, sql], capture_output=True, text=True, timeout=120, check=True
    )
    return int(done.stdout)


def _spark_counts(specs: list[TableSpec]) -> dict[str, int]:
    """Row counts as Spark reads the tables from S3 (Iceberg JdbcCatalog + Hadoop S3A), in its own process."""
    code = (
        "import json, sys\n"
        "from coldtier_assets.config import load_settings\n"
        "from coldtier_assets.resources.spark import build_spark_session\n"
        "settings = load_settings()\n"
        "spark = build_spark_session(settings, app_name='s3-read')\n"
        "counts = {name: spark.table(f'{settings.catalog_name}.{settings.namespace}.{name}').count()\n"
        "          for name in sys.argv[1:]}\n"
        "print(json.dumps(counts))\n"
        "spark.stop()\n"
    )
    env = cli_env({})
    done = subprocess.run(
        [sys.executable, "-c", code, *(spec.name for spec in specs)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def on_s3(s3_warehouse: str, coldtier_env: dict[str, str], s3_server: S3Server) -> Iterator[Settings]:
    """A coldtier whose warehouse is ``s3://<fresh bucket>/warehouse``, initialised by `coldtier init`."""
    _cli(["init"], coldtier_env, s3_server)
    yield load_settings(coldtier_env)


def test_init_writes_only_below_the_prefix(on_s3: Settings, s3_server: S3Server) -> None:
    bucket = on_s3.warehouse.removeprefix("s3://").split("/", 1)[0]
    keys = s3_server.keys(bucket)
    assert any(key.endswith(".metadata.json") for key in keys)
    assert all(key.startswith("warehouse/cold/") for key in keys), keys


def test_the_cold_tier_works_on_s3_end_to_end(
    on_s3: Settings, coldtier_env: dict[str, str], s3_server: S3Server
) -> None:
    settings, warm = on_s3, WarmTier(on_s3.warm_dsn)
    simulate_history(warm, HOUR.start, HOUR.end, seed=11, trades_per_second=1)
    _offload_with_checks(settings)
    catalog = open_catalog(settings)
    tables = [argument for spec in (BINANCE, SILVER, GOLD) for argument in ("--table", spec.name)]
    window_range = ["--since", HOUR.start.isoformat(), "--until", HOUR.end.isoformat()]
    verify = _cli(["verify", *tables, *window_range], coldtier_env, s3_server)
    for spec in (BINANCE, SILVER, GOLD):
        assert f"{spec.name}: 2 match" in verify, verify
    statuses = {status.table: status for status in collect_status(warm, catalog, settings.namespace)}

    silver = catalog.load_table((settings.namespace, SILVER.name))
    rows = silver.scan().to_arrow().num_rows
    warm_rows = int(str(warm.rows("SELECT count() FROM silver_trades FINAL")[0][0]))
    assert rows > 0 and rows == warm_rows == statuses[SILVER.name].cold_rows
    assert statuses[SILVER.name].watermark == HOUR.end
    warm.command("TRUNCATE TABLE silver_trades")  # from now on only the cold tier holds these trades
    between = (
        f"trade_time >= '{HOUR.start:%Y-%m-%d %H:%M:%S}' AND trade_time < '{HOUR.end:%Y-%m-%d %H:%M:%S}'"
    )
    answer = _cli(
        ["query", f"SELECT count() AS n FROM silver_trades WHERE {between}", "--format", "csv"],
        coldtier_env,
        s3_server,
    )
    assert answer.strip().splitlines()[-1] == str(rows)

    # maintenance on S3: an old orphan goes, every live file stays, the rows do not change
    bucket, prefix = silver.location().removeprefix("s3://").split("/", 1)
    orphan = f"{prefix}/data/orphan-left-by-a-crash.parquet"
    sibling = f"{prefix}_copy/data/another-tables-file.parquet"  # shares the key prefix, not the folder
    for key in (orphan, sibling):
        s3_server.client().put_object(Bucket=bucket, Key=key, Body=b"not referenced by silver_trades")
    files_before = len(silver.inspect.files())
    # nine days after the files were written: their S3 times are today's, whatever day the data is of
    audit = run_maintenance(
        settings, warm, catalog, [SILVER.name, BINANCE.name], now=datetime.now(UTC) + timedelta(days=9)
    )
    raise_for_failures(audit)
    assert orphan not in s3_server.keys(bucket) and sibling in s3_server.keys(bucket)
    silver = catalog.load_table((settings.namespace, SILVER.name))
    assert len(silver.inspect.files()) < files_before
    live = {path.removeprefix(f"s3://{bucket}/") for path in silver.inspect.files()["file_path"].to_pylist()}
    assert live <= set(s3_server.keys(bucket))
    assert silver.scan().to_arrow().num_rows == rows

    # independent readers of the same objects
    assert _chdb_reads(settings, catalog, SILVER) == rows
    _no_secret(s3_server, json.dumps([row.message for row in audit]))


@pytest.fixture(scope="module")
def open_s3_server() -> Iterator[S3Server]:
    """A moto server without IAM checks: hadoop-aws's AWS SDK v1 fails moto's signature check (see s3_server)."""
    with running_s3(iam=False) as server:
        yield server


def test_spark_reads_what_coldtier_wrote_to_s3(
    coldtier_env: dict[str, str], open_s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = f"s3://{open_s3_server.new_bucket()}/warehouse"
    for name, value in open_s3_server.env(warehouse).items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    warm, catalog = WarmTier(settings.warm_dsn), open_catalog(settings)
    init_all(warm, catalog, settings.namespace)
    simulate_history(warm, HOUR.start, HOUR.end, seed=12, trades_per_second=1)
    offloader = Offloader(settings, warm, lambda: open_catalog(settings))
    for spec in (BINANCE, SILVER):
        offloader.offload(spec, HOUR.start, HOUR.end)
    expected = {
        spec.name: catalog.load_table((settings.namespace, spec.name)).scan().to_arrow().num_rows
        for spec in (BINANCE, SILVER)
    }
    assert min(expected.values()) > 0
    assert _spark_counts([SILVER, BINANCE]) == expected


def test_a_sigkilled_offload_loses_nothing_on_either_warehouse(
    warehouse_backend: str, coldtier_env: dict[str, str]
) -> None:
    """A real SIGKILL after the data files are written, before the commit; the re-run copies exactly."""
    settings = load_settings(coldtier_env)
    warm, catalog = WarmTier(settings.warm_dsn), open_catalog(settings)
    init_all(warm, catalog, settings.namespace)
    simulate_history(warm, HOUR.start, HOUR.end, seed=13, trades_per_second=1)
    killed = subprocess.run(
        [
            sys.executable,
            "-m",
            CHILD,
            "kill-before-commit",
            SILVER.name,
            HOUR.start.isoformat(),
            HOUR.end.isoformat(),
        ],
        env=cli_env(coldtier_env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert killed.returncode == -9, killed.stderr
    table = catalog.load_table((settings.namespace, SILVER.name))
    assert read_ledger(table).watermark is None and list_table_files(
        table
    )  # files written, nothing committed
    Offloader(settings, warm, lambda: open_catalog(settings)).offload(
        SILVER, HOUR.start, HOUR.end, run_id="rerun"
    )
    assert assert_window_matches(warm, catalog, settings.namespace, SILVER, HOUR.start, HOUR.end) > 0
    assert urlparse(catalog.load_table((settings.namespace, SILVER.name)).location()).scheme == (
        "s3" if warehouse_backend == "s3" else "file"
    )


def test_a_missing_bucket_is_one_clear_error(coldtier_env: dict[str, str], s3_server: S3Server) -> None:
    env = {**coldtier_env, **s3_server.env("s3://no-such-bucket-here/warehouse")}
    with pytest.raises(WarehouseBucketMissingError, match="no-such-bucket-here"):
        open_catalog(load_settings(env))
    result = run_cli(["init"], env)
    assert_one_line_failure(result, 1, "S3 bucket 'no-such-bucket-here' does not exist")


def test_a_wrong_secret_is_one_clear_error_without_the_secret(
    coldtier_env: dict[str, str], s3_server: S3Server
) -> None:
    bucket = s3_server.new_bucket()
    wrong = "wrong-secret-that-must-not-show"
    env = {**coldtier_env, **s3_server.env(f"s3://{bucket}/warehouse"), "AWS_SECRET_ACCESS_KEY": wrong}
    with pytest.raises(WarehouseAccessDeniedError):
        open_catalog(load_settings(env))
    result = run_cli(["init"], env)
    line = assert_one_line_failure(result, 1, f"S3 refused access to bucket '{bucket}'")
    assert wrong not in result.stderr + result.stdout and wrong not in line
    assert s3_server.keys(bucket) == []  # nothing was written
