"""Gold cold assets: one per candle interval, downstream of cold Silver."""

import dagster as dg

from coldtier_assets.config import Settings
from coldtier_assets.defs.assets.table_asset import table_asset
from coldtier_assets.tables import TABLES


def build_gold_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    """One asset per Gold table of the registry."""
    return [table_asset(spec, settings) for spec in TABLES if spec.layer == "gold"]
