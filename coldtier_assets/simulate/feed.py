"""The feed loop: generated trades written into the Bronze tables, as history or live.

The model is in :mod:`coldtier_assets.simulate.model`, the Bronze Arrow tables in
:mod:`coldtier_assets.simulate.bronze_rows`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa

from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.simulate.bronze_rows import bronze_arrow
from coldtier_assets.simulate.markets import QUOTE_USD
from coldtier_assets.simulate.model import (
    BLOCK_SECONDS,
    NS_PER_MS,
    NS_PER_SECOND,
    Columns,
    TradeGenerator,
    concat_columns,
    empty_columns,
    from_ns,
    take_rows,
    to_ns,
)
from coldtier_assets.tables import EXCHANGES

# --------------------------------------------------------------------------------------------------
# Historical mode
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedBatch:
    """One time-ordered batch: the Bronze Arrow tables to insert, and how many rows are new or resent."""

    start: datetime
    end: datetime
    tables: dict[str, pa.Table]
    trades: dict[str, int]
    duplicates: dict[str, int]

    @property
    def rows(self) -> int:
        """Rows in the batch (new trades plus resends)."""
        return sum(table.num_rows for table in self.tables.values())


@dataclass(frozen=True)
class SimulationReport:
    """What a simulation wrote: trades and resends per exchange, totals, wall time and the rate."""

    start: datetime
    end: datetime
    trades: Mapping[str, int]
    duplicates: Mapping[str, int]
    late: Mapping[str, int]
    total: int
    rows_written: int
    batches: int
    elapsed_seconds: float
    trades_per_second: float

    @classmethod
    def build(
        cls,
        *,
        start: datetime,
        end: datetime,
        trades: Mapping[str, int],
        duplicates: Mapping[str, int],
        late: Mapping[str, int] | None,
        batches: int,
        elapsed_seconds: float,
    ) -> SimulationReport:
        """Derive the totals and the rate (distinct trades generated and written per wall-clock second)."""
        total = sum(trades.values())
        return cls(
            start=start,
            end=end,
            trades=dict(trades),
            duplicates=dict(duplicates),
            late=dict(late or dict.fromkeys(trades, 0)),
            total=total,
            rows_written=total + sum(duplicates.values()),
            batches=batches,
            elapsed_seconds=elapsed_seconds,
            trades_per_second=total / elapsed_seconds if elapsed_seconds > 0 else 0.0,
        )


def _history_bounds(start: datetime, end: datetime) -> tuple[int, int]:
    t0 = -(-to_ns(start) // NS_PER_MS) * NS_PER_MS  # ms-aligned: quantized times stay in range
    t1 = to_ns(end) // NS_PER_MS * NS_PER_MS
    if t1 <= t0:
        raise ValueError(f"end ({end}) must be after start ({start})")
    return t0, t1


def generate_history(
    start: datetime,
    end: datetime,
    *,
    seed: int = 7,
    trades_per_second: float = 150.0,
    batch_seconds: int = 300,
) -> Iterator[FeedBatch]:
    """Yield the feed for ``[start, end)`` as time-ordered batches of ``batch_seconds`` of trade time.

    Each batch holds the trades whose time falls in it plus the resends of trades from the previous
    batch (a final batch may hold only resends). Trade fields depend on (seed, start, end, rate) only;
    ``ingested_at`` is the trade time plus a small delay (a resend's is seconds to minutes later).
    """
    if batch_seconds <= 0:
        raise ValueError(f"batch_seconds must be positive, got {batch_seconds}")
    t0, t1 = _history_bounds(start, end)
    generator = TradeGenerator(seed=seed, trades_per_second=trades_per_second, start_ns=t0)
    exchanges = generator.exchanges
    batch_ns = batch_seconds * NS_PER_SECOND
    block_ns = BLOCK_SECONDS * NS_PER_SECOND
    buffered: dict[str, list[Columns]] = {name: [] for name in exchanges}
    buffered_resend: dict[str, list[Columns]] = {name: [] for name in exchanges}
    pending: dict[str, Columns] = {name: empty_columns() for name in exchanges}
    generated_until = t0

    for batch_lo in range(t0, t1, batch_ns):
        batch_hi = min(batch_lo + batch_ns, t1)
        while generated_until < batch_hi:
            block_hi = min(generated_until + block_ns, t1)
            span = generator.span(generated_until, block_hi)
            for name in exchanges:
                trades = span.trades[name]
                buffered[name].append(trades)
                again = take_rows(trades, span.resend[name])
                again["ingest_ns"] = (
                    again["ingest_ns"] + span.resend_delay_ns[name][span.resend[name]] // 1_000 * 1_000
                )
                buffered_resend[name].append(again)
            generated_until = block_hi
        tables: dict[str, pa.Table] = {}
        counts: dict[str, int] = {}
        resent: dict[str, int] = {}
        for name in exchanges:
            trades = concat_columns(buffered[name])
            resends = concat_columns(buffered_resend[name])
            cut = int(np.searchsorted(trades["time_ns"], batch_hi))
            cut_resend = int(np.searchsorted(resends["time_ns"], batch_hi))
            buffered[name] = [take_rows(trades, slice(cut, None))]
            buffered_resend[name] = [take_rows(resends, slice(cut_resend, None))]
            current = take_rows(trades, slice(0, cut))
            counts[name] = cut
            resent[name] = len(pending[name]["trade_id"])
            tables[name] = bronze_arrow(name, concat_columns([pending[name], current]))
            pending[name] = take_rows(resends, slice(0, cut_resend))
        yield FeedBatch(from_ns(batch_lo), from_ns(batch_hi), tables, counts, resent)

    if any(len(columns["trade_id"]) for columns in pending.values()):
        yield FeedBatch(
            from_ns(t1),
            from_ns(t1),
            {name: bronze_arrow(name, pending[name]) for name in exchanges},
            dict.fromkeys(exchanges, 0),
            {name: len(pending[name]["trade_id"]) for name in exchanges},
        )


def write_batch(warm: WarmTier, tables: Mapping[str, pa.Table]) -> None:
    """Insert one batch into the Bronze tables in a single warm-tier session (one short chDB lock)."""
    with warm.session():
        for exchange in EXCHANGES:
            table = tables.get(exchange.name)
            if table is not None and table.num_rows:
                warm.insert_arrow(exchange.bronze_table, table)


class _SessionWriter:
    """Writes batches, keeping one warm-tier session open across batches for at most ``hold_seconds``.

    The lock is released once a session has been open ``hold_seconds`` (checked after each batch),
    so other processes get their turn.
    """

    def __init__(self, warm: WarmTier, hold_seconds: float) -> None:
        self.warm = warm
        self.hold_seconds = hold_seconds
        self._stack: ExitStack | None = None
        self._opened = 0.0

    def write(self, tables: Mapping[str, pa.Table]) -> None:
        """Write one batch, opening a session if none is open and closing it once held long enough."""
        if self._stack is None:
            self._stack = ExitStack()
            self._stack.enter_context(self.warm.session())
            self._opened = time.perf_counter()
        write_batch(self.warm, tables)
        if time.perf_counter() - self._opened >= self.hold_seconds:
            self.close()

    def close(self) -> None:
        """Close the open session, if any."""
        if self._stack is not None:
            stack, self._stack = self._stack, None
            stack.close()


def simulate_history(
    warm: WarmTier,
    start: datetime,
    end: datetime,
    *,
    seed: int = 7,
    trades_per_second: float = 150.0,
    batch_seconds: int = 300,
    max_lock_seconds: float = 5.0,
) -> SimulationReport:
    """Generate the feed for ``[start, end)`` and write it batch by batch into the Bronze tables.

    Consecutive batches share one warm-tier session until it has been open ``max_lock_seconds``
    (then the embedded chDB lock is released and a new session opened): opening a chDB session costs
    tens of milliseconds, and closing it interrupts background merges, so one session per 300-second
    batch would make a multi-million-trade history several times slower. ``max_lock_seconds=0``
    gives one session per batch.
    """
    began = time.perf_counter()
    trades: dict[str, int] = {}
    duplicates: dict[str, int] = {}
    batches = 0
    writer = _SessionWriter(warm, hold_seconds=max_lock_seconds)
    try:
        for batch in generate_history(
            start, end, seed=seed, trades_per_second=trades_per_second, batch_seconds=batch_seconds
        ):
            writer.write(batch.tables)
            batches += 1
            for name, count in batch.trades.items():
                trades[name] = trades.get(name, 0) + count
            for name, count in batch.duplicates.items():
                duplicates[name] = duplicates.get(name, 0) + count
    finally:
        writer.close()
    return SimulationReport.build(
        start=start,
        end=end,
        trades=trades,
        duplicates=duplicates,
        late=None,
        batches=batches,
        elapsed_seconds=time.perf_counter() - began,
    )


# --------------------------------------------------------------------------------------------------
# Live mode
# --------------------------------------------------------------------------------------------------


def _resume(warm: WarmTier, generator: TradeGenerator) -> None:
    """Continue ids above what the warm tier holds, and prices from each market's last trade."""
    index = {(market.exchange, market.symbol): i for i, market in enumerate(generator.markets)}
    implied: dict[int, list[float]] = {}
    with warm.session():
        for exchange in EXCHANGES:
            rows = warm.rows(
                f"SELECT toString({exchange.symbol_column}), max(trade_id), "
                f"toFloat64(argMax(price, ({exchange.time_column}, trade_id))) "
                f"FROM {exchange.bronze_table} GROUP BY {exchange.symbol_column}"
            )
            for symbol, max_id, last_price in rows:
                i = index.get((exchange.name, str(symbol)))
                if i is None:
                    continue
                generator.next_id[i] = max(int(generator.next_id[i]), int(str(max_id)) + 1)
                price = float(str(last_price))
                if price > 0:
                    market = generator.markets[i]
                    implied.setdefault(int(generator.asset_of[i]), []).append(
                        math.log(price * QUOTE_USD[market.quote])
                    )
    for asset, logs in implied.items():
        generator.log_price[asset] = float(np.mean(logs))


def simulate_live(
    warm: WarmTier,
    *,
    trades_per_second: float,
    seed: int,
    duration_seconds: float | None = None,
    interval_seconds: float = 1.0,
    late_fraction: float = 0.0,
    stop: threading.Event | None = None,
) -> SimulationReport:
    """Write trades as they happen: every interval, the trades whose time fell in that interval.

    Runs until ``duration_seconds`` elapse, ``stop`` is set, or KeyboardInterrupt. A ``late_fraction``
    of trades is held back and delivered 2-10 minutes after its trade time; resends arrive 1-30 s
    after the original. Whatever is still held back when the feed stops is delivered then. Ids
    continue above the warm tier's and prices from its last trades. ``ingested_at`` is the wall clock.
    """
    if interval_seconds <= 0:
        raise ValueError(f"interval_seconds must be positive, got {interval_seconds}")
    if not 0.0 <= late_fraction < 1.0:
        raise ValueError(f"late_fraction must be in [0, 1), got {late_fraction}")
    stop = stop or threading.Event()
    began = time.perf_counter()
    start_ns = time.time_ns() // NS_PER_MS * NS_PER_MS
    deadline = None if duration_seconds is None else start_ns + int(duration_seconds * NS_PER_SECOND)
    generator = TradeGenerator(seed=seed, trades_per_second=trades_per_second, start_ns=start_ns)
    _resume(warm, generator)
    exchanges = generator.exchanges
    held: dict[str, Columns] = {name: empty_columns() for name in exchanges}
    held_until: dict[str, np.ndarray] = {name: np.empty(0, np.int64) for name in exchanges}
    held_resend: dict[str, np.ndarray] = {name: np.empty(0, np.bool_) for name in exchanges}
    trades = dict.fromkeys(exchanges, 0)
    duplicates = dict.fromkeys(exchanges, 0)
    late = dict.fromkeys(exchanges, 0)
    batches = 0
    generated_until = start_ns
    tick = 0

    def deliver(now_ns: int, *, everything: bool = False) -> None:
        nonlocal batches
        tables: dict[str, pa.Table] = {}
        stamp = time.time_ns() // 1_000 * 1_000
        for name in exchanges:
            due = np.ones(len(held_until[name]), np.bool_) if everything else held_until[name] <= now_ns
            out = take_rows(held[name], due)
            resends = held_resend[name][due]
            keep = ~due
            held[name], held_until[name], held_resend[name] = (
                take_rows(held[name], keep),
                held_until[name][keep],
                held_resend[name][keep],
            )
            if len(out["trade_id"]):
                order = np.argsort(out["time_ns"], kind="stable")
                out = take_rows(out, order)
                out["ingest_ns"] = np.full(len(order), stamp, np.int64)
                tables[name] = bronze_arrow(name, out)
                duplicates[name] += int(resends.sum())
                trades[name] += int((~resends).sum())
        if tables:
            write_batch(warm, tables)
            batches += 1

    try:
        while not stop.is_set():
            tick += 1
            target = start_ns + int(tick * interval_seconds * NS_PER_SECOND)
            if deadline is not None:
                target = min(target, deadline)
            wait = (target - time.time_ns()) / NS_PER_SECOND
            if wait > 0 and stop.wait(wait):
                break
            now_ns = time.time_ns() // NS_PER_MS * NS_PER_MS
            if now_ns > generated_until:
                span = generator.span(generated_until, now_ns)
                generated_until = now_ns
                for name in exchanges:
                    fresh = span.trades[name]
                    n = len(fresh["trade_id"])
                    is_late = generator.rng.random(n) < late_fraction
                    late[name] += int(is_late.sum())
                    delay = generator.rng.integers(120 * NS_PER_SECOND, 600 * NS_PER_SECOND, n)
                    until = np.where(is_late, fresh["time_ns"] + delay, now_ns)
                    again = span.resend[name]
                    resend_until = now_ns + generator.rng.integers(1 * NS_PER_SECOND, 30 * NS_PER_SECOND, n)
                    held[name] = concat_columns([held[name], fresh, take_rows(fresh, again)])
                    held_until[name] = np.concatenate([held_until[name], until, resend_until[again]])
                    held_resend[name] = np.concatenate(
                        [held_resend[name], np.zeros(n, np.bool_), np.ones(int(again.sum()), np.bool_)]
                    )
            deliver(now_ns)
            if deadline is not None and now_ns >= deadline:
                break
    except KeyboardInterrupt:
        pass
    deliver(time.time_ns(), everything=True)
    return SimulationReport.build(
        start=from_ns(start_ns),
        end=from_ns(generated_until),
        trades=trades,
        duplicates=duplicates,
        late=late,
        batches=batches,
        elapsed_seconds=time.perf_counter() - began,
    )
