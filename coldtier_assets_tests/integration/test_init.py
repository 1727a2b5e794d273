"""`coldtier init` on chDB and on both catalog databases; a second run changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys

from coldtier_assets.config import load_settings
from coldtier_assets.ddl import iceberg_ddl
from coldtier_assets.offload.bootstrap import init_all
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.resources.iceberg import open_catalog
from coldtier_assets.tables import TABLES


def test_init_creates_everything_and_twice_is_a_no_op(
    catalog_backend: str, coldtier_env: dict[str, str]
) -> None:
    settings = load_settings(coldtier_env)
    assert settings.catalog_uri.startswith(catalog_backend)
    warm, catalog = WarmTier(settings.warm_dsn), open_catalog(settings)
    first = init_all(warm, catalog, settings.namespace)
    assert len(first.cold_created) == 11
    warm_tables = warm.rows(
        "SELECT name, engine FROM system.tables WHERE database = currentDatabase() ORDER BY name"
    )
    locations = {spec.name: catalog.load_table(("cold", spec.name)).metadata_location for spec in TABLES}

    second = init_all(warm, catalog, settings.namespace)
    assert second.cold_created == () and len(second.cold_existing) == 11
    assert warm.rows(
        "SELECT name, engine FROM system.tables WHERE database = currentDatabase() ORDER BY name"
    ) == (warm_tables)
    assert {
        spec.name: catalog.load_table(("cold", spec.name)).metadata_location for spec in TABLES
    } == locations

    engines = {str(name): str(engine) for name, engine in warm_tables}
    assert engines["silver_trades"] == "ReplacingMergeTree" and engines["gold_ohlcv_1d"] == "View"
    assert engines["mv_silver_from_kraken"] == "MaterializedView"
    for spec in TABLES:
        table = catalog.load_table(("cold", spec.name))
        assert table.schema() == iceberg_ddl(spec).schema
        assert table.properties["write.parquet.compression-level"] == "3"


def test_cli_init_twice(coldtier_env: dict[str, str]) -> None:
    for expected in ("created ['bronze_trades_binance'", "created none; already present 11"):
        result = subprocess.run(
            [sys.executable, "-m", "coldtier_assets.cli.main", "init"],
            env={**os.environ, **coldtier_env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert expected in result.stdout


def test_cli_reports_configuration_errors_by_variable(coldtier_env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "coldtier_assets.cli.main", "status"],
        env={**os.environ, **coldtier_env, "COLDTIER_CATALOG_URI": "oracle://x"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "COLDTIER_CATALOG_URI must be a sqlite:/// or postgresql:// URI" in result.stderr
