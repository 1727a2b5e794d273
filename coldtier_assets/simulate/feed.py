"""The history feed: generated trades for a past time range, written batch by batch into Bronze.

The model is in :mod:`coldtier_assets.simulate.model`, the Bronze Arrow tables in
:mod:`coldtier_assets.simulate.bronze_rows`, the live feed in :mod:`coldtier_assets.simulate.live`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa

from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.simulate.bronze_rows import bronze_arrow
from coldtier_assets.simulate.clock import NS_PER_MS, NS_PER_SECOND, from_ns, to_ns
from coldtier_assets.simulate.columns import Columns, concat_columns, empty_columns, take_rows
from coldtier_assets.simulate.model import BLOCK_SECONDS, Span, TradeGenerator
from coldtier_assets.tables import EXCHANGES

#: How long consecutive history batches share one warm-tier session before it is reopened.
SESSION_HOLD_SECONDS = 5.0


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


class _HistoryBuffer:
    """Trades generated ahead of the batch being cut, and resends waiting for the next batch."""

    def __init__(self, exchanges: tuple[str, ...]) -> None:
        self.exchanges = exchanges
        self.trades: dict[str, list[Columns]] = {name: [] for name in exchanges}
        self.resends: dict[str, list[Columns]] = {name: [] for name in exchanges}
        self.pending: dict[str, Columns] = {name: empty_columns() for name in exchanges}

    def add(self, span: Span) -> None:
        """Keep a generated span's trades, and their resends (``ingested_at`` moved by the delay)."""
        for name in self.exchanges:
            trades = span.trades[name]
            self.trades[name].append(trades)
            again = take_rows(trades, span.resend[name])
            again["ingest_ns"] = (
                again["ingest_ns"] + span.resend_delay_ns[name][span.resend[name]] // 1_000 * 1_000
            )
            self.resends[name].append(again)

    def cut(self, batch_lo: int, batch_hi: int) -> FeedBatch:
        """The batch ``[batch_lo, batch_hi)``: its trades, plus the resends of the previous batch."""
        tables: dict[str, pa.Table] = {}
        counts: dict[str, int] = {}
        resent: dict[str, int] = {}
        for name in self.exchanges:
            trades = concat_columns(self.trades[name])
            resends = concat_columns(self.resends[name])
            cut = int(np.searchsorted(trades["time_ns"], batch_hi))
            cut_resend = int(np.searchsorted(resends["time_ns"], batch_hi))
            self.trades[name] = [take_rows(trades, slice(cut, None))]
            self.resends[name] = [take_rows(resends, slice(cut_resend, None))]
            counts[name] = cut
            resent[name] = len(self.pending[name]["trade_id"])
            current = take_rows(trades, slice(0, cut))
            tables[name] = bronze_arrow(name, concat_columns([self.pending[name], current]))
            self.pending[name] = take_rows(resends, slice(0, cut_resend))
        return FeedBatch(from_ns(batch_lo), from_ns(batch_hi), tables, counts, resent)

    def last(self, t1: int) -> FeedBatch | None:
        """A final batch of the resends still pending at the end, if any."""
        if not any(len(columns["trade_id"]) for columns in self.pending.values()):
            return None
        return FeedBatch(
            from_ns(t1),
            from_ns(t1),
            {name: bronze_arrow(name, self.pending[name]) for name in self.exchanges},
            dict.fromkeys(self.exchanges, 0),
            {name: len(self.pending[name]["trade_id"]) for name in self.exchanges},
        )


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
    buffer = _HistoryBuffer(generator.exchanges)
    batch_ns = batch_seconds * NS_PER_SECOND
    block_ns = BLOCK_SECONDS * NS_PER_SECOND
    generated_until = t0
    for batch_lo in range(t0, t1, batch_ns):
        batch_hi = min(batch_lo + batch_ns, t1)
        while generated_until < batch_hi:  # whole blocks, whatever the batch size
            block_hi = min(generated_until + block_ns, t1)
            buffer.add(generator.span(generated_until, block_hi))
            generated_until = block_hi
        yield buffer.cut(batch_lo, batch_hi)
    last = buffer.last(t1)
    if last is not None:
        yield last


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
) -> SimulationReport:
    """Generate the feed for ``[start, end)`` and write it batch by batch into the Bronze tables.

    Consecutive batches share one warm-tier session until it has been open
    :data:`SESSION_HOLD_SECONDS` (then the embedded chDB lock is released and a new session opened):
    opening a chDB session costs tens of milliseconds, and closing it interrupts background merges,
    so one session per 300-second batch would make a multi-million-trade history several times slower.
    """
    began = time.perf_counter()
    trades: dict[str, int] = {}
    duplicates: dict[str, int] = {}
    batches = 0
    writer = _SessionWriter(warm, hold_seconds=SESSION_HOLD_SECONDS)
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
