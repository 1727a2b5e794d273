"""The generated trade columns as Arrow tables in each exchange's Bronze schema (exact decimals)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

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


#: Each exchange's Bronze columns in DDL order, as ``column=array`` (``column`` alone when the array
#: has the column's name); the arrays are those :func:`_arrays` builds from the generated trades.
BRONZE_LAYOUTS: dict[str, str] = {
    "binance": "event_time=event_time_ms symbol trade_id price quantity trade_time=time_ms "
    "is_buyer_maker=buyer_is_maker ingested_at",
    "kraken": "pair=symbol price volume=quantity time=time_us side=kraken_side "
    "order_type=kraken_order_type misc=no_text trade_id ingested_at",
    "coinbase": "trade_id product_id=symbol price size=quantity side=maker_side time=time_us ingested_at",
}


def _arrays(exchange: str, columns: Mapping[str, np.ndarray]) -> dict[str, Callable[[], pa.Array]]:
    """Every Arrow array a Bronze layout may name, each built only when a layout asks for it."""
    taker_buy = columns["taker_buy"]
    symbols = [market.symbol for market in MARKETS[exchange]]
    return {
        "symbol": lambda: _labels(columns["market"], symbols),
        "trade_id": lambda: pa.array(columns["trade_id"], pa.int64()),
        "price": lambda: _decimal(columns["price"]),
        "quantity": lambda: _decimal(columns["quantity"]),
        "event_time_ms": lambda: _timestamp(columns["event_ns"], "ms"),
        "time_ms": lambda: _timestamp(columns["time_ns"], "ms"),
        "time_us": lambda: _timestamp(columns["time_ns"], "us"),
        "ingested_at": lambda: _timestamp(columns["ingest_ns"], "us"),
        "buyer_is_maker": lambda: pa.array(~taker_buy),
        "kraken_side": lambda: _labels(np.where(taker_buy, 0, 1), ["b", "s"]),
        "kraken_order_type": lambda: _labels(np.where(columns["market_order"], 0, 1), ["m", "l"]),
        "maker_side": lambda: _labels(np.where(taker_buy, 1, 0), ["buy", "sell"]),  # Coinbase: the maker's
        "no_text": lambda: _empty_strings(len(columns["trade_id"])),
    }


def bronze_arrow(exchange: str, columns: Mapping[str, np.ndarray]) -> pa.Table:
    """Build the Arrow table of trades in ``bronze_trades_<exchange>``'s native columns (DDL names)."""
    if exchange not in BRONZE_LAYOUTS:
        raise ValueError(f"unknown exchange {exchange!r}")
    arrays = _arrays(exchange, columns)
    named = (item.partition("=") for item in BRONZE_LAYOUTS[exchange].split())
    return pa.table({column: arrays[array or column]() for column, _, array in named})
