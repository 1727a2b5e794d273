"""OHLCV candles recomputed from cold Silver rows, independently of ClickHouse and of coldtier.

The rule is the DDL's: per (exchange, symbol, candle start), open/close are the prices of the first
and last trade by (trade time, trade id), volume and quote volume are exact sums, VWAP is quote
volume / volume truncated to 8 decimals (the close price when the volume is zero).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_DOWN, Decimal, localcontext

from benchmarks.soak_harness.normalize import Row, decimal_text

#: Silver columns the recomputation reads, in this order.
SILVER_COLUMNS = ["exchange", "symbol", "trade_id", "price", "quantity", "quote_amount", "trade_time"]
#: Gold columns, in the order :func:`candles` returns them.
GOLD_COLUMNS = [
    "exchange",
    "symbol",
    "window_start",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "trade_count",
    "vwap",
]
_EIGHT = Decimal("1e-8")


def candles(silver: Iterable[Row], seconds: int) -> dict[tuple[object, ...], Row]:
    """(exchange, symbol, window start µs) -> the candle row (``GOLD_COLUMNS``, normalized)."""
    groups: dict[tuple[object, ...], list[Row]] = {}
    step = seconds * 1_000_000
    for row in silver:
        time = int(str(row[6]))
        groups.setdefault((row[0], row[1], time - time % step), []).append(row)
    out: dict[tuple[object, ...], Row] = {}
    with localcontext() as context:
        context.prec = 80
        for key, trades in groups.items():
            trades.sort(key=lambda trade: (int(str(trade[6])), int(str(trade[2]))))
            prices = [Decimal(str(trade[3])) for trade in trades]
            volume = sum((Decimal(str(trade[4])) for trade in trades), Decimal(0))
            quote = sum((Decimal(str(trade[5])) for trade in trades), Decimal(0))
            vwap = prices[-1] if volume == 0 else (quote / volume).quantize(_EIGHT, rounding=ROUND_DOWN)
            out[key] = (
                *key,
                decimal_text(prices[0]),
                decimal_text(max(prices)),
                decimal_text(min(prices)),
                decimal_text(prices[-1]),
                decimal_text(volume),
                decimal_text(quote),
                len(trades),
                decimal_text(vwap),
            )
    return out
