"""Bronze cold assets: the three exchanges' tables of one window copy in parallel threads."""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dagster as dg

from coldtier_assets.config import Settings
from coldtier_assets.defs.assets.common import (
    cold_spec,
    copy_and_check,
    table_checks,
)
from coldtier_assets.defs.assets.keys import cold_key
from coldtier_assets.defs.checks.asset_checks import CheckOutcome
from coldtier_assets.defs.checks.partition_results import partition_check_events
from coldtier_assets.defs.partitions import MAX_WINDOWS_PER_RUN, partitions_for
from coldtier_assets.defs.resources import ColdtierResource
from coldtier_assets.tables import TABLES, TableSpec


def build_bronze_assets(settings: Settings) -> dg.AssetsDefinition:
    """One multi-asset for every Bronze table, subsettable, copying the selected tables in parallel."""
    bronze = [spec for spec in TABLES if spec.layer == "bronze"]

    @dg.multi_asset(
        name="bronze_tables",
        specs=[cold_spec(spec, settings) for spec in bronze],
        partitions_def=partitions_for(bronze[0], settings),
        check_specs=[check for spec in bronze for check in table_checks(spec, settings)],
        backfill_policy=dg.BackfillPolicy.multi_run(MAX_WINDOWS_PER_RUN),
        can_subset=True,
    )
    def bronze_tables(context: dg.AssetExecutionContext, coldtier: ColdtierResource) -> Any:
        selected_checks = {key.asset_key for key in context.selected_asset_check_keys}
        selected = [
            spec
            for spec in bronze
            if cold_key(spec) in context.selected_asset_keys or cold_key(spec) in selected_checks
        ]

        def run(spec: TableSpec) -> tuple[list[dg.MaterializeResult], list[CheckOutcome]]:
            return copy_and_check(context, coldtier, spec)

        with ThreadPoolExecutor(max_workers=len(selected), thread_name_prefix="bronze") as pool:
            results = list(pool.map(run, selected))
        for materialized, _ in results:  # stored first: the check evaluations target them
            yield from materialized
        for spec, (_, outcomes) in zip(selected, results, strict=True):
            yield from partition_check_events(context, cold_key(spec), outcomes)

    return bronze_tables
