"""The Silver-layer cold assets: normalized trades and quarantined trades, downstream of Bronze."""

import dagster as dg

from coldtier_assets.config import Settings
from coldtier_assets.defs.assets.table_asset import table_asset
from coldtier_assets.tables import TABLES


def build_silver_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    """``cold/silver_trades`` and ``cold/rejected_trades`` (every Silver-layer table of the registry)."""
    return [table_asset(spec, settings) for spec in TABLES if spec.layer == "silver"]
