"""The candle check reads cold Silver from its windows' start to the end of their last candle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from coldtier_assets.offload.quality import silver_span_sql
from coldtier_assets.offload.windows import Window
from coldtier_assets.tables import get_table

START = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_windows_of_whole_candles_read_exactly_their_span() -> None:
    windows = [
        Window(START, START + timedelta(minutes=15)),
        Window(START + timedelta(minutes=15), START + timedelta(minutes=30)),
    ]
    sql = silver_span_sql("cold_silver", get_table("gold_ohlcv_5m"), windows)
    assert "`trade_time` >= toDateTime64('2026-11-24 12:00:00.000000', 6, 'UTC')" in sql
    assert "`trade_time` < toDateTime64('2026-11-24 12:30:00.000000', 6, 'UTC')" in sql
    assert sql.startswith("(SELECT * FROM cold_silver WHERE")


def test_a_window_ending_inside_a_candle_reads_to_the_candle_end() -> None:
    """A 7-minute window holds the 5-minute candle starting at 12:05, whose trades run to 12:10."""
    sql = silver_span_sql(
        "cold_silver", get_table("gold_ohlcv_5m"), [Window(START, START + timedelta(minutes=7))]
    )
    assert "`trade_time` < toDateTime64('2026-11-24 12:10:00.000000', 6, 'UTC')" in sql
