"""The Silver cold asset: normalized trades, downstream of the Bronze cold tables."""

import dagster as dg

from coldtier_assets.config import Settings
from coldtier_assets.defs.assets.table_asset import table_asset
from coldtier_assets.tables import get_table


def build_silver_asset(settings: Settings) -> dg.AssetsDefinition:
    """The ``cold/silver_trades`` asset."""
    return table_asset(get_table("silver_trades"), settings)
