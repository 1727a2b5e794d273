"""The Silver cold asset: normalized trades, downstream of the Bronze cold tables."""

import dagster as dg

from coldtier_assets.assets.common import MAX_PARTITIONS_PER_RUN, cold_spec, offload_partitions
from coldtier_assets.config import Settings
from coldtier_assets.resources.dagster import ColdtierResource
from coldtier_assets.tables import get_table


def build_silver_asset(settings: Settings) -> dg.AssetsDefinition:
    """The ``cold/silver_trades`` asset."""
    spec = get_table("silver_trades")

    @dg.multi_asset(
        name="silver_trades",
        specs=[cold_spec(spec, settings)],
        backfill_policy=dg.BackfillPolicy.multi_run(MAX_PARTITIONS_PER_RUN),
    )
    def silver_trades(context: dg.AssetExecutionContext, coldtier: ColdtierResource) -> dg.MaterializeResult:
        return offload_partitions(context, coldtier, spec)

    return silver_trades
