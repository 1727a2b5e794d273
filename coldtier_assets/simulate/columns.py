"""Trades as numpy columns: one array per field, one entry per trade.

The model (:mod:`coldtier_assets.simulate.model`) produces one :data:`Columns` per exchange; the feed
loops cut, merge and reorder them with these helpers before :mod:`~coldtier_assets.simulate.bronze_rows`
turns them into Bronze Arrow tables.
"""

from __future__ import annotations

import numpy as np

#: Per-exchange trade columns, as numpy arrays (one entry per trade, time-ordered).
Columns = dict[str, np.ndarray]

_COLUMN_DTYPES: dict[str, type] = {
    "market": np.int8,  # index into MARKETS[exchange]
    "time_ns": np.int64,  # trade time, quantized to the exchange's precision
    "event_ns": np.int64,  # Binance event time (>= trade time); equal to time_ns elsewhere
    "trade_id": np.int64,
    "price": np.int64,  # units of 1e-8
    "quantity": np.int64,  # units of 1e-8
    "taker_buy": np.bool_,
    "market_order": np.bool_,  # Kraken order type: market (m) or limit (l)
    "ingest_ns": np.int64,
}


def empty_columns() -> Columns:
    """Columns holding no trades."""
    return {name: np.empty(0, dtype) for name, dtype in _COLUMN_DTYPES.items()}


def take_rows(columns: Columns, index: np.ndarray | slice) -> Columns:
    """The rows of every column selected by ``index``."""
    return {name: values[index] for name, values in columns.items()}


def concat_columns(parts: list[Columns]) -> Columns:
    """The trades of ``parts`` one after the other (empty parts skipped)."""
    parts = [part for part in parts if len(part["trade_id"])]
    if not parts:
        return empty_columns()
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([part[name] for part in parts]) for name in _COLUMN_DTYPES}
