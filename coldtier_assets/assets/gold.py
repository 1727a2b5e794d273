"""Gold cold assets: one per candle interval, downstream of cold Silver."""

from collections.abc import Iterator

import dagster as dg

from coldtier_assets.assets.common import MAX_PARTITIONS_PER_RUN, cold_spec, materialize_table, table_checks
from coldtier_assets.config import Settings
from coldtier_assets.resources.dagster import ColdtierResource
from coldtier_assets.tables import TABLES, TableSpec


def _gold_asset(spec: TableSpec, settings: Settings) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name=spec.name,
        specs=[cold_spec(spec, settings)],
        check_specs=table_checks(spec, settings),
        backfill_policy=dg.BackfillPolicy.multi_run(MAX_PARTITIONS_PER_RUN),
        can_subset=True,
    )
    def gold_candles(
        context: dg.AssetExecutionContext, coldtier: ColdtierResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        yield from materialize_table(context, coldtier, spec)

    return gold_candles


def build_gold_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    """One asset per Gold table of the registry."""
    return [_gold_asset(spec, settings) for spec in TABLES if spec.layer == "gold"]
