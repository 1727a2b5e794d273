"""The soak harness's own arithmetic: candle recomputation, value normalization, percentiles (#12)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa

from benchmarks.soak_harness.candles import candles
from benchmarks.soak_harness.normalize import decimal_text, rows_of
from benchmarks.soak_harness.report import percentile
from benchmarks.soak_harness.verify import checksum

T0 = 1_800_000_000_000_000  # µs, a minute boundary


def _trade(trade_id: int, price: str, quantity: str, micros: int) -> tuple[object, ...]:
    amount = Decimal(price) * Decimal(quantity)
    return ("binance", "BTC/USDT", trade_id, price, quantity, str(amount), micros)


def test_open_and_close_follow_trade_time_then_id_and_vwap_truncates() -> None:
    trades = [
        _trade(7, "100", "1", T0 + 5),
        _trade(3, "101", "2", T0 + 5),  # same time, lower id: this one opens
        _trade(9, "99", "1", T0 + 59_000_000),
        _trade(1, "105", "1", T0 + 60_000_000),  # next minute
    ]
    first, second = sorted(candles(trades, 60).items(), key=lambda item: int(str(item[0][2])))
    assert first[1] == ("binance", "BTC/USDT", T0, "101", "101", "99", "99", "4", "401", 3, "100.25")
    assert second[1][3:] == ("105", "105", "105", "105", "1", "105", 1, "105")
    third = candles([_trade(1, "3", "1", T0), _trade(2, "1", "2", T0 + 1)], 60)[("binance", "BTC/USDT", T0)]
    assert third[-1] == "1.66666666"  # 5 / 3 truncated to 8 decimals, not rounded


def test_a_candle_of_zero_quantity_has_the_close_as_vwap() -> None:
    row = candles([_trade(1, "50", "0", T0), _trade(2, "60", "0", T0 + 1)], 60)[("binance", "BTC/USDT", T0)]
    assert row[-1] == "60" and row[7] == "0"


def test_values_from_either_tier_normalize_to_the_same_row() -> None:
    warm = pa.table(
        {
            "t": pa.array([datetime(2026, 1, 1, tzinfo=UTC)], pa.timestamp("ms", tz="UTC")),
            "p": pa.array([Decimal("1.50000000")], pa.decimal128(18, 8)),
            "s": pa.array(["x"]).dictionary_encode(),
        }
    )
    cold = pa.table(
        {
            "t": pa.array([datetime(2026, 1, 1)], pa.timestamp("us")),
            "p": pa.array([Decimal("1.5")], pa.decimal128(38, 16)),
            "s": pa.array(["x"]),
        }
    )
    assert rows_of(warm, ["t", "p", "s"]) == rows_of(cold, ["t", "p", "s"])
    assert decimal_text(Decimal("90000.00000000")) == "90000" and decimal_text(Decimal("0E-8")) == "0"


def test_checksum_ignores_order_but_not_content() -> None:
    rows: list[tuple[object, ...]] = [(1, "a"), (2, "b")]
    assert checksum(rows) == checksum(list(reversed(rows)))
    assert checksum(rows) != checksum([(1, "a"), (2, "c")])


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.95), percentile([], 0.5)) == (50.0, 95.0, None)
