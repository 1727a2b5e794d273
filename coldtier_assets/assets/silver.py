"""The Silver cold asset: normalized trades, downstream of the Bronze cold tables."""

from collections.abc import Iterator

import dagster as dg

from coldtier_assets.assets.common import MAX_PARTITIONS_PER_RUN, cold_spec, materialize_table, table_checks
from coldtier_assets.config import Settings
from coldtier_assets.resources.dagster import ColdtierResource
from coldtier_assets.tables import get_table


def build_silver_asset(settings: Settings) -> dg.AssetsDefinition:
    """The ``cold/silver_trades`` asset."""
    spec = get_table("silver_trades")

    @dg.multi_asset(
        name="silver_trades",
        specs=[cold_spec(spec, settings)],
        check_specs=table_checks(spec, settings),
        backfill_policy=dg.BackfillPolicy.multi_run(MAX_PARTITIONS_PER_RUN),
        can_subset=True,
    )
    def silver_trades(
        context: dg.AssetExecutionContext, coldtier: ColdtierResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        yield from materialize_table(context, coldtier, spec)

    return silver_trades
