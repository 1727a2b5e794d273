"""The generated trade columns as Arrow tables in each exchange's Bronze schema (exact decimals)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from coldtier_assets.simulate.clock import NS_PER_MS
from coldtier_assets.simulate.markets import MARKETS

# --------------------------------------------------------------------------------------------------
# Arrow tables in the Bronze schemas
# --------------------------------------------------------------------------------------------------


def _decimal(units: np.ndarray) -> pa.Array:
    """Build an exact ``decimal128(18, 8)`` array from int64 values in units of 1e-8 (no floats)."""
    n = len(units)
    words = np.empty((n, 2), np.int64)
    words[:, 0] = units
    words[:, 1] = units >> 63
    return pa.Array.from_buffers(pa.decimal128(18, 8), n, [None, pa.py_buffer(words)])


def _timestamp(ns: np.ndarray, unit: str) -> pa.Array:
    divisor = {"ms": NS_PER_MS, "us": 1_000}[unit]
    return pa.array(ns // divisor, pa.timestamp(unit, tz="UTC"))


def _labels(codes: np.ndarray, labels: list[str]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int8)), pa.array(labels, pa.string()))


def _empty_strings(n: int) -> pa.Array:
    return pa.Array.from_buffers(
        pa.string(), n, [None, pa.py_buffer(np.zeros(n + 1, np.int32)), pa.py_buffer(b"")]
    )


def bronze_arrow(exchange: str, columns: Mapping[str, np.ndarray]) -> pa.Table:
    """Build the Arrow table of trades in ``bronze_trades_<exchange>``'s native columns (DDL names)."""
    symbols = [market.symbol for market in MARKETS[exchange]]
    symbol = _labels(columns["market"], symbols)
    price, quantity = _decimal(columns["price"]), _decimal(columns["quantity"])
    trade_id = pa.array(columns["trade_id"], pa.int64())
    ingested_at = _timestamp(columns["ingest_ns"], "us")
    taker_buy = columns["taker_buy"]
    if exchange == "binance":
        return pa.table(
            {
                "event_time": _timestamp(columns["event_ns"], "ms"),
                "symbol": symbol,
                "trade_id": trade_id,
                "price": price,
                "quantity": quantity,
                "trade_time": _timestamp(columns["time_ns"], "ms"),
                "is_buyer_maker": pa.array(~taker_buy),
                "ingested_at": ingested_at,
            }
        )
    if exchange == "kraken":
        return pa.table(
            {
                "pair": symbol,
                "price": price,
                "volume": quantity,
                "time": _timestamp(columns["time_ns"], "us"),
                "side": _labels(np.where(taker_buy, 0, 1), ["b", "s"]),
                "order_type": _labels(np.where(columns["market_order"], 0, 1), ["m", "l"]),
                "misc": _empty_strings(len(trade_id)),
                "trade_id": trade_id,
                "ingested_at": ingested_at,
            }
        )
    if exchange == "coinbase":
        return pa.table(
            {
                "trade_id": trade_id,
                "product_id": symbol,
                "price": price,
                "size": quantity,
                "side": _labels(np.where(taker_buy, 1, 0), ["buy", "sell"]),  # the maker's side
                "time": _timestamp(columns["time_ns"], "us"),
                "ingested_at": ingested_at,
            }
        )
    raise ValueError(f"unknown exchange {exchange!r}")
