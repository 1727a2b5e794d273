"""Column docs travel from ``ddl/`` to ClickHouse, Iceberg (pyiceberg reads them back) and Dagster.

Real chDB and a real SQLite catalog: an existing table created without docs (as before the docs
were written) gets them from ``init`` without touching its data, snapshots or properties.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.schema import Schema

from coldtier_assets.config import Settings
from coldtier_assets.ddl import iceberg_ddl
from coldtier_assets.definitions import build_definitions
from coldtier_assets.offload.bootstrap import init_all, init_warm
from coldtier_assets.offload.pipeline import Offloader
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.resources.iceberg import open_catalog
from coldtier_assets.simulate.feed import simulate_history
from coldtier_assets.tables import TABLES, get_table
from coldtier_assets_tests.fixtures import DAY

pytestmark = pytest.mark.integration


def _docs(schema: Schema) -> dict[str, str | None]:
    return {field.name: field.doc for field in schema.fields}


def test_every_cold_column_is_documented_and_pyiceberg_reads_the_docs_back(
    initialized: Settings, catalog: SqlCatalog
) -> None:
    for spec in TABLES:
        docs = _docs(catalog.load_table(("cold", spec.name)).schema())
        assert all(docs.values()), (spec.name, docs)
    gold = _docs(catalog.load_table(("cold", "gold_ohlcv_1h")).schema())
    assert gold["window_start"] == "start of the 1h candle, UTC"


def test_clickhouse_bronze_comments_are_carried_into_the_iceberg_docs(
    initialized: Settings, warm: WarmTier, catalog: SqlCatalog
) -> None:
    for spec in TABLES:
        if spec.layer == "gold":
            continue
        comments = warm.rows(
            f"SELECT name, comment FROM system.columns WHERE database = currentDatabase() "
            f"AND table = '{spec.name}' AND comment != ''"
        )
        docs = _docs(catalog.load_table(("cold", spec.name)).schema())
        assert comments or spec.layer != "bronze", spec.name
        for name, comment in comments:
            assert str(comment) in (docs[str(name)] or ""), (spec.name, name, comment, docs[str(name)])


def test_init_documents_an_existing_table_without_touching_its_data(
    settings: Settings, warm: WarmTier, catalog: SqlCatalog
) -> None:
    spec = get_table("bronze_trades_kraken")
    ddl = iceberg_ddl(spec)
    undocumented = Schema(*(field.model_copy(update={"doc": None}) for field in ddl.schema.fields))
    catalog.create_namespace("cold")
    catalog.create_table(
        ("cold", spec.name), schema=undocumented, partition_spec=ddl.partition_spec, properties=ddl.properties
    )
    init_warm(warm)
    start = DAY + timedelta(hours=1)
    simulate_history(warm, start, start + timedelta(minutes=30), seed=4, trades_per_second=5)
    Offloader(settings, warm, lambda: open_catalog(settings)).offload(
        spec, start, start + timedelta(minutes=30)
    )
    before = catalog.load_table(("cold", spec.name))
    assert not any(_docs(before.schema()).values())

    report = init_all(warm, catalog, settings.namespace)
    after = catalog.load_table(("cold", spec.name))
    assert spec.name in report.cold_documented
    assert _docs(after.schema()) == _docs(ddl.schema)
    assert after.current_snapshot() == before.current_snapshot()
    assert after.properties == before.properties  # the ledger property among them
    assert after.scan().to_arrow().num_rows == before.scan().to_arrow().num_rows > 0

    again = init_all(warm, catalog, settings.namespace)
    assert again.cold_documented == ()
    assert catalog.load_table(("cold", spec.name)).metadata_location == after.metadata_location


def test_asset_metadata_carries_the_column_descriptions(settings: Settings) -> None:
    graph = build_definitions(settings).resolve_asset_graph()
    for spec in TABLES:
        schema = graph.get(dg.AssetKey(["cold", spec.name])).metadata["dagster/column_schema"]
        assert isinstance(schema, dg.TableSchema)
        described = {column.name: column.description for column in schema.columns}
        assert described == _docs(iceberg_ddl(spec).schema) and all(described.values()), spec.name
