"""The simulated trade feed: determinism, native naming, exact decimals, ids, resends, and chDB writes."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from coldtier_assets.offload.bootstrap import init_warm
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.simulate import (
    MARKETS,
    FeedBatch,
    canonical_symbol,
    generate_history,
    native_symbol,
    simulate_history,
    simulate_live,
)
from coldtier_assets.tables import EXCHANGES

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
END = START + timedelta(minutes=20)
SYMBOL_COLUMN = {exchange.name: exchange.symbol_column for exchange in EXCHANGES}
TIME_COLUMN = {exchange.name: exchange.time_column for exchange in EXCHANGES}
QUANTITY_COLUMN = {"binance": "quantity", "kraken": "volume", "coinbase": "size"}
NATIVE_PATTERN = {
    "binance": re.compile(r"^[A-Z]{3,5}(USDT|USDC|USD|EUR)$"),
    "kraken": re.compile(r"^[A-Z]{3,4}/(USD|EUR)$"),
    "coinbase": re.compile(r"^[A-Z]{3,5}-(USD|USDC|EUR)$"),
}


def history(
    start: datetime = START,
    end: datetime = END,
    *,
    seed: int = 7,
    rate: float = 150.0,
    batch_seconds: int = 300,
) -> list[FeedBatch]:
    return list(generate_history(start, end, seed=seed, trades_per_second=rate, batch_seconds=batch_seconds))


def combined(batches: list[FeedBatch], exchange: str) -> pa.Table:
    return pa.concat_tables([batch.tables[exchange] for batch in batches])


def originals(batches: list[FeedBatch], exchange: str) -> pa.Table:
    """The first delivery of every trade (a batch starts with the previous batch's resends)."""
    parts = []
    for batch in batches:
        table = batch.tables[exchange]
        parts.append(table.slice(batch.duplicates[exchange]))
    return pa.concat_tables(parts)


def units(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """The int64 values (units of 1e-8) behind a decimal128(18, 8) column, read from its buffers."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    words = np.frombuffer(array.buffers()[1], np.int64, count=2 * (array.offset + len(array)))
    return words.reshape(-1, 2)[array.offset :, 0]


def scalars(warm: WarmTier, sql: str, parameters: dict[str, object] | None = None) -> list[int]:
    """The first row of a query whose values are all integers."""
    return [int(str(value)) for value in warm.rows(sql, parameters)[0]]


def id_ranges(
    warm: WarmTier, where: str = "1", parameters: dict[str, object] | None = None
) -> dict[str, range]:
    """Per Binance symbol, the range of trade ids (optionally of the rows matching ``where``)."""
    sql = f"SELECT symbol, min(trade_id), max(trade_id) FROM bronze_trades_binance WHERE {where} GROUP BY 1"
    return {
        str(symbol): range(int(str(low)), int(str(high)) + 1)
        for symbol, low, high in warm.rows(sql, parameters)
    }


def trade_fields(table: pa.Table) -> pa.Table:
    return table.drop_columns(["ingested_at"])


@pytest.fixture(scope="module")
def batches() -> list[FeedBatch]:
    return history()


@pytest.fixture()
def warm(tmp_path: Path) -> Iterator[WarmTier]:
    tier = WarmTier(f"chdb://{tmp_path}/warm")
    init_warm(tier)
    yield tier


# -- markets ------------------------------------------------------------------------------------------


def test_registry_covers_every_exchange() -> None:
    assert {exchange.name for exchange in EXCHANGES} == set(MARKETS)


@pytest.mark.parametrize("exchange", [exchange.name for exchange in EXCHANGES])
def test_native_naming_and_canonical_symbols(exchange: str) -> None:
    for market in MARKETS[exchange]:
        assert NATIVE_PATTERN[exchange].match(market.symbol), market.symbol
        assert canonical_symbol(exchange, market.symbol) == market.canonical
    assert native_symbol("binance", "BTC", "USDT") == "BTCUSDT"
    assert native_symbol("kraken", "BTC", "USD") == "XBT/USD"
    assert native_symbol("kraken", "DOGE", "USD") == "XDG/USD"
    assert native_symbol("coinbase", "BTC", "USD") == "BTC-USD"


def test_symbols_in_the_feed_are_the_native_ones(batches: list[FeedBatch]) -> None:
    for exchange in MARKETS:
        table = combined(batches, exchange)
        seen = set(table[SYMBOL_COLUMN[exchange]].cast(pa.string()).to_pylist())
        assert seen == {market.symbol for market in MARKETS[exchange]}
    assert "XBT/USD" in set(combined(batches, "kraken")["pair"].cast(pa.string()).to_pylist())


# -- determinism --------------------------------------------------------------------------------------


def test_same_seed_same_trades(batches: list[FeedBatch]) -> None:
    again = history()
    for exchange in MARKETS:
        assert trade_fields(combined(again, exchange)).equals(trade_fields(combined(batches, exchange)))


def test_trades_do_not_depend_on_the_batch_size(batches: list[FeedBatch]) -> None:
    small = history(batch_seconds=45)
    assert len(small) > len(batches)
    for exchange in MARKETS:
        assert trade_fields(originals(small, exchange)).equals(trade_fields(originals(batches, exchange)))


def test_other_seed_other_trades(batches: list[FeedBatch]) -> None:
    other = history(seed=8)
    assert not trade_fields(combined(other, "binance")).equals(trade_fields(combined(batches, "binance")))


def test_naive_start_means_utc() -> None:
    naive = history(START.replace(tzinfo=None), END.replace(tzinfo=None), rate=20.0)
    aware = history(rate=20.0)
    for exchange in MARKETS:
        assert combined(naive, exchange).equals(combined(aware, exchange))


# -- values -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("exchange", [exchange.name for exchange in EXCHANGES])
def test_prices_and_quantities_are_exact_tick_quantized_decimals(
    batches: list[FeedBatch], exchange: str
) -> None:
    table = combined(batches, exchange)
    quantity_column = QUANTITY_COLUMN[exchange]
    assert table.schema.field("price").type == pa.decimal128(18, 8)
    assert table.schema.field(quantity_column).type == pa.decimal128(18, 8)
    symbols = np.array(table[SYMBOL_COLUMN[exchange]].cast(pa.string()).to_pylist())
    prices, quantities = units(table["price"]), units(table[quantity_column])
    assert (prices > 0).all() and (quantities > 0).all()
    levels = {"BTC": (60_000, 130_000), "ETH": (2_000, 4_500), "SOL": (100, 220), "DOGE": (0.1, 0.22)}
    for market in MARKETS[exchange]:
        mine = symbols == market.symbol
        assert mine.any(), market.symbol
        assert (prices[mine] % market.tick_units == 0).all(), market.symbol
        assert (quantities[mine] % market.lot_units == 0).all(), market.symbol
        low, high = levels[market.base]
        assert low * 1e8 < prices[mine].min() and prices[mine].max() < high * 1e8, market.symbol
    # The Python view of the column agrees with the integers exactly (no float anywhere).
    sample = table.slice(0, 50)
    for value, integer in zip(sample["price"].to_pylist(), units(sample["price"]), strict=True):
        assert isinstance(value, Decimal) and value.as_tuple().exponent == -8
        assert value == Decimal(int(integer)).scaleb(-8)


@pytest.mark.parametrize("exchange", [exchange.name for exchange in EXCHANGES])
def test_trade_ids_strictly_increase_per_symbol(batches: list[FeedBatch], exchange: str) -> None:
    table = originals(batches, exchange)
    symbols = np.array(table[SYMBOL_COLUMN[exchange]].cast(pa.string()).to_pylist())
    ids = table["trade_id"].to_numpy()
    times = table[TIME_COLUMN[exchange]].cast(pa.int64()).to_numpy()
    for symbol in np.unique(symbols):
        mine = symbols == symbol
        order = np.lexsort((ids[mine], times[mine]))
        assert (np.diff(ids[mine][order]) > 0).all(), symbol
        assert (np.diff(ids[mine]) != 0).all()
    assert len(np.unique(np.char.add(symbols.astype(str), ids.astype(str)))) == len(ids)


def test_timestamps_precision_and_range(batches: list[FeedBatch]) -> None:
    start_us = int(START.timestamp()) * 1_000_000
    end_us = int(END.timestamp()) * 1_000_000
    binance = combined(batches, "binance")
    assert binance.schema.field("trade_time").type == pa.timestamp("ms", tz="UTC")
    trade_ms = binance["trade_time"].cast(pa.int64()).to_numpy()
    event_ms = binance["event_time"].cast(pa.int64()).to_numpy()
    assert ((event_ms - trade_ms) >= 0).all() and ((event_ms - trade_ms) <= 20).all()
    assert (event_ms > trade_ms).any()
    assert start_us <= trade_ms.min() * 1000 and trade_ms.max() * 1000 < end_us
    kraken_us = combined(batches, "kraken")["time"].cast(pa.int64()).to_numpy()
    assert (kraken_us % 100 == 0).all() and (kraken_us % 1000 != 0).any()
    coinbase_us = combined(batches, "coinbase")["time"].cast(pa.int64()).to_numpy()
    assert (coinbase_us % 100 != 0).any()
    for times in (kraken_us, coinbase_us):
        assert start_us <= times.min() and times.max() < end_us
    for exchange in MARKETS:
        table = combined(batches, exchange)
        ingested = table["ingested_at"].cast(pa.int64()).to_numpy()
        trade_time = (
            table[TIME_COLUMN[exchange]].cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
        )
        assert (ingested > trade_time).all()


def test_sides_and_native_flags(batches: list[FeedBatch]) -> None:
    binance = combined(batches, "binance")
    maker_buys = binance["is_buyer_maker"].to_numpy().mean()
    assert 0.35 < maker_buys < 0.65
    kraken = combined(batches, "kraken")
    assert set(kraken["side"].cast(pa.string()).to_pylist()) == {"b", "s"}
    assert set(kraken["order_type"].cast(pa.string()).to_pylist()) == {"m", "l"}
    assert set(kraken["misc"].to_pylist()) == {""}
    coinbase = combined(batches, "coinbase")
    assert set(coinbase["side"].cast(pa.string()).to_pylist()) == {"buy", "sell"}


def test_rate_is_about_right_and_bursty() -> None:
    start = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)
    batches = history(start, start + timedelta(hours=2), rate=40.0, batch_seconds=3600)
    seconds = np.concatenate(
        [
            originals(batches, exchange)[TIME_COLUMN[exchange]].cast(pa.int64()).to_numpy()
            // (1000 if exchange == "binance" else 1_000_000)
            for exchange in MARKETS
        ]
    )
    per_second = np.bincount(seconds - seconds.min())
    assert 0.5 * 40 < per_second.mean() < 1.6 * 40
    assert per_second.var() / per_second.mean() > 3  # far more dispersed than a Poisson process
    assert per_second.max() > 4 * per_second.mean()


# -- resends ------------------------------------------------------------------------------------------


def test_resends_are_identical_trades_delivered_in_a_later_batch(batches: list[FeedBatch]) -> None:
    assert batches[0].duplicates == dict.fromkeys(MARKETS, 0)
    total = sum(sum(batch.trades.values()) for batch in batches)
    resent = sum(sum(batch.duplicates.values()) for batch in batches)
    assert 0.002 * total < resent < 0.01 * total
    for exchange in MARKETS:
        table = combined(batches, exchange)
        batch_of = np.concatenate([np.full(b.tables[exchange].num_rows, n) for n, b in enumerate(batches)])
        is_resend = np.concatenate(
            [np.arange(b.tables[exchange].num_rows) < b.duplicates[exchange] for b in batches]
        )
        keys = list(
            zip(
                table[SYMBOL_COLUMN[exchange]].cast(pa.string()).to_pylist(),
                table["trade_id"].to_pylist(),
                strict=True,
            )
        )
        first = {key: index for index, key in enumerate(keys) if not is_resend[index]}
        assert len(first) == int((~is_resend).sum())  # every trade is delivered once as an original
        resends = np.flatnonzero(is_resend)
        assert len(resends) == sum(b.duplicates[exchange] for b in batches) > 0
        original = np.array([first[keys[index]] for index in resends])
        assert (batch_of[original] < batch_of[resends]).all()
        assert trade_fields(table.take(original)).equals(trade_fields(table.take(resends)))
        ingested = table["ingested_at"].cast(pa.int64()).to_numpy()
        assert (ingested[resends] > ingested[original]).all()


# -- chDB -----------------------------------------------------------------------------------------------


def test_history_into_chdb_resends_collapse_with_final(warm: WarmTier) -> None:
    with warm.session():  # one session, so background merges stay stopped until the counts are read
        for exchange in EXCHANGES:
            warm.command(f"SYSTEM STOP MERGES {exchange.bronze_table}")
        warm.command("SYSTEM STOP MERGES silver_trades")
        report = simulate_history(
            warm, START, START + timedelta(minutes=10), seed=11, trades_per_second=80.0, batch_seconds=120
        )
        assert report.total == sum(report.trades.values()) > 0
        assert report.rows_written == report.total + sum(report.duplicates.values())
        assert report.trades_per_second > 0 and report.batches >= 5
        for exchange in EXCHANGES:
            table = exchange.bronze_table
            rows, final = scalars(warm, f"SELECT count(), (SELECT count() FROM {table} FINAL) FROM {table}")
            assert rows == report.trades[exchange.name] + report.duplicates[exchange.name]
            assert final == report.trades[exchange.name]
            assert rows > final  # resends are there until FINAL (or a merge) collapses them
        distinct_bronze = sum(
            scalars(warm, f"SELECT uniqExact({e.symbol_column}, trade_id) FROM {e.bronze_table}")[0]
            for e in EXCHANGES
        )
        silver_rows, silver_final, silver_distinct = scalars(
            warm,
            "SELECT count(), (SELECT count() FROM silver_trades FINAL), "
            "uniqExact(exchange, trade_id, symbol) FROM silver_trades",
        )
    assert silver_final == silver_distinct == distinct_bronze == report.total
    assert silver_rows == report.rows_written
    symbols = {row[0] for row in warm.rows("SELECT DISTINCT symbol FROM silver_trades")}
    assert symbols == {market.canonical for markets in MARKETS.values() for market in markets}
    assert warm.rows("SELECT count() FROM silver_trades FINAL WHERE position(symbol, '/') = 0")[0][0] == 0
    assert warm.rows("SELECT countIf(quote_amount <= 0) FROM silver_trades")[0][0] == 0


def test_history_rejects_an_empty_range(warm: WarmTier) -> None:
    with pytest.raises(ValueError, match="after start"):
        simulate_history(warm, END, START)


def test_live_writes_current_trades_resends_and_late_ones(warm: WarmTier) -> None:
    began_us = time.time_ns() // 1_000
    report = simulate_live(
        warm, trades_per_second=400.0, seed=5, duration_seconds=1.5, interval_seconds=0.5, late_fraction=0.05
    )
    assert report.total > 50 and sum(report.late.values()) > 0
    assert 1.0 < report.elapsed_seconds < 30
    for exchange in EXCHANGES:
        table, time_column = exchange.bronze_table, exchange.time_column
        final, oldest, newest, lag = scalars(
            warm,
            f"SELECT count(), min(toUnixTimestamp64Micro({time_column})), "
            f"max(toUnixTimestamp64Micro({time_column})), "
            f"min(dateDiff('microsecond', {time_column}, ingested_at)) FROM {table} FINAL",
        )
        assert final == report.trades[exchange.name]
        assert began_us - 1_000_000 <= oldest <= newest <= time.time_ns() // 1_000
        assert lag >= 0
    assert scalars(warm, "SELECT count() FROM silver_trades FINAL")[0] == report.total

    # A second run continues every symbol's ids above the first run's.
    before = id_ranges(warm)
    stop = threading.Event()
    threading.Timer(0.6, stop.set).start()
    second_began_us = time.time_ns() // 1_000
    second = simulate_live(warm, trades_per_second=400.0, seed=5, stop=stop, interval_seconds=0.25)
    assert second.elapsed_seconds < 10 and second.total > 0
    after = id_ranges(warm, "toUnixTimestamp64Micro(ingested_at) >= {t:Int64}", {"t": second_began_us})
    assert after
    for symbol, ids in after.items():
        assert ids.start > before[symbol].stop - 1
