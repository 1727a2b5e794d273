"""The asset of one cold table with its checks (no postponed annotations: Dagster inspects them)."""

from collections.abc import Iterator

import dagster as dg

from coldtier_assets.config import Settings
from coldtier_assets.defs.assets.common import (
    cold_spec,
    materialize_table,
    table_checks,
)
from coldtier_assets.defs.partitions import MAX_WINDOWS_PER_RUN
from coldtier_assets.defs.resources import ColdtierResource
from coldtier_assets.tables import TableSpec


def table_asset(spec: TableSpec, settings: Settings) -> dg.AssetsDefinition:
    """The cold asset of one table (with its checks), copied window range by window range."""

    @dg.multi_asset(
        name=spec.name,
        specs=[cold_spec(spec, settings)],
        check_specs=table_checks(spec, settings),
        backfill_policy=dg.BackfillPolicy.multi_run(MAX_WINDOWS_PER_RUN),
        can_subset=True,
    )
    def copy_table(
        context: dg.AssetExecutionContext, coldtier: ColdtierResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckEvaluation | dg.Output[None]]:
        yield from materialize_table(context, coldtier, spec)

    return copy_table
