"""The trade feed: a realistic multi-exchange stream of trades written into the Bronze tables."""

from coldtier_assets.simulate.bronze_rows import bronze_arrow
from coldtier_assets.simulate.feed import (
    FeedBatch,
    SimulationReport,
    generate_history,
    simulate_history,
    write_batch,
)
from coldtier_assets.simulate.live import simulate_live
from coldtier_assets.simulate.markets import MARKETS, Market, canonical_symbol, native_symbol

__all__ = [
    "MARKETS",
    "FeedBatch",
    "Market",
    "SimulationReport",
    "bronze_arrow",
    "canonical_symbol",
    "generate_history",
    "native_symbol",
    "simulate_history",
    "simulate_live",
    "write_batch",
]
