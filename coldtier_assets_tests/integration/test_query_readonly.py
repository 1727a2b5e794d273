"""`coldtier query` is read-only (#10 item 6), checked against real chDB and a real cold table.

Writes, DDL, ``INTO OUTFILE`` and table functions that reach files, URLs or other servers are
refused with a clear error; any SELECT over the logical tables (cold side included) still answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from pyiceberg.catalog import Catalog

from coldtier_assets.config import Settings, load_settings
from coldtier_assets.errors import ColdtierError
from coldtier_assets.federated.plan import plan_query
from coldtier_assets.federated.run import federated_query
from coldtier_assets.offload.bootstrap import init_all
from coldtier_assets.offload.pipeline import Offloader
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.resources.iceberg import open_catalog
from coldtier_assets.simulate.feed import simulate_history
from coldtier_assets.tables import get_table
from coldtier_assets_tests.fixtures import DAY, embedded_env

START = DAY + timedelta(hours=10)


@dataclass(frozen=True)
class Tiers:
    settings: Settings
    warm: WarmTier
    catalog: Catalog
    home: Path


@pytest.fixture(scope="module")
def tiers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tiers]:
    home = tmp_path_factory.mktemp("readonly") / "coldtier"
    settings = load_settings(embedded_env(home))
    warm = WarmTier(settings.warm_dsn)
    catalog = open_catalog(settings)
    init_all(warm, catalog, settings.namespace)
    simulate_history(warm, START, START + timedelta(minutes=30), seed=3, trades_per_second=4)
    offloader = Offloader(settings, warm, lambda: open_catalog(settings))
    offloader.offload(get_table("silver_trades"), START, START + timedelta(minutes=15), run_id="test")
    yield Tiers(settings, warm, catalog, home)
    warm.close()


def _query(tiers: Tiers, sql: str) -> list[dict[str, object]]:
    return federated_query(tiers.settings, tiers.warm, tiers.catalog, sql).to_pylist()


def test_select_over_cold_and_warm_still_answers(tiers: Tiers) -> None:
    plan = plan_query(tiers.catalog, tiers.settings.namespace, "SELECT count() AS n FROM silver_trades")
    assert plan.tables[0].cold is not None  # the cold side (icebergLocal) is part of the query
    (warm_count,) = tiers.warm.rows("SELECT count() FROM silver_trades FINAL")[0]
    assert _query(tiers, "SELECT count() AS n FROM silver_trades") == [{"n": warm_count}]
    assert _query(tiers, "SELECT sum(number) AS s FROM numbers(4)") == [{"s": 6}]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM file('/etc/hostname', 'LineAsString')",
        "SELECT file('/etc/hostname') AS content",
        "SELECT * FROM FILE('/etc/hostname', 'LineAsString')",
        "SELECT * FROM `file`('/etc/hostname', 'LineAsString')",
        "SELECT * FROM url('http://127.0.0.1:9/x.csv', 'CSV', 'a String')",
        "SELECT * FROM remote('127.0.0.1:9', system.one)",
        "SELECT * FROM s3('http://127.0.0.1:9/bucket/x.csv', 'CSV', 'a String')",
        "SELECT * FROM executable('id', 'TSV', 'a String')",
        "WITH t AS (SELECT * FROM file('/etc/hostname', 'LineAsString')) SELECT * FROM t",
    ],
)
def test_table_functions_reaching_outside_are_refused(tiers: Tiers, sql: str) -> None:
    with pytest.raises(ColdtierError, match=r"coldtier query is read-only: the table function \w+\(\)"):
        _query(tiers, sql)


def test_into_outfile_is_refused_and_writes_nothing(tiers: Tiers) -> None:
    target = tiers.home / "leak.csv"
    with pytest.raises(ColdtierError, match="read-only: INTO OUTFILE is not allowed"):
        _query(tiers, f"SELECT * FROM silver_trades INTO OUTFILE '{target}'")
    assert not target.exists()


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO silver_trades SELECT * FROM silver_trades",
        "DROP TABLE silver_trades",
        "ALTER TABLE bronze_trades_binance DELETE WHERE 1",
        "CREATE TABLE x (a Int8) ENGINE = Memory",
        "SYSTEM DROP DNS CACHE",
    ],
)
def test_writes_and_ddl_are_refused(tiers: Tiers, sql: str) -> None:
    with pytest.raises(ColdtierError, match="only SELECT queries can be federated"):
        _query(tiers, sql)


def test_the_query_runs_readonly_and_cannot_lift_it(tiers: Tiers) -> None:
    with pytest.raises(ColdtierError, match="Cannot modify 'readonly' setting in readonly mode"):
        _query(tiers, "SELECT count() FROM silver_trades SETTINGS readonly = 0")
