"""Bronze cold assets: the three exchanges' tables of one window copy in parallel threads."""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dagster as dg

from coldtier_assets.assets.common import MAX_PARTITIONS_PER_RUN, cold_key, cold_spec, offload_partitions
from coldtier_assets.config import Settings
from coldtier_assets.partitions import partitions_for
from coldtier_assets.resources.dagster import ColdtierResource
from coldtier_assets.tables import TABLES, TableSpec


def build_bronze_assets(settings: Settings) -> dg.AssetsDefinition:
    """One multi-asset for every Bronze table, subsettable, copying the selected tables in parallel."""
    bronze = [spec for spec in TABLES if spec.layer == "bronze"]

    @dg.multi_asset(
        name="bronze_tables",
        specs=[cold_spec(spec, settings) for spec in bronze],
        partitions_def=partitions_for(bronze[0], settings),
        backfill_policy=dg.BackfillPolicy.multi_run(MAX_PARTITIONS_PER_RUN),
        can_subset=True,
    )
    def bronze_tables(context: dg.AssetExecutionContext, coldtier: ColdtierResource) -> Any:
        selected = [spec for spec in bronze if cold_key(spec) in context.selected_asset_keys]

        def run(spec: TableSpec) -> dg.MaterializeResult:
            return offload_partitions(context, coldtier, spec)

        with ThreadPoolExecutor(max_workers=len(selected), thread_name_prefix="bronze") as pool:
            results = list(pool.map(run, selected))
        yield from results

    return bronze_tables
