"""The live feed: every interval, the trades whose time fell in it, with late trades and resends.

Ids continue above the warm tier's and prices from its last trades, so a live feed can follow a
history (or another live feed) in the same Bronze tables.
"""

from __future__ import annotations

import math
import threading
import time
from contextlib import suppress

import numpy as np
import pyarrow as pa

from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.simulate.bronze_rows import bronze_arrow
from coldtier_assets.simulate.clock import NS_PER_MS, NS_PER_SECOND, from_ns
from coldtier_assets.simulate.columns import Columns, concat_columns, empty_columns, take_rows
from coldtier_assets.simulate.feed import SimulationReport, write_batch
from coldtier_assets.simulate.markets import QUOTE_USD
from coldtier_assets.simulate.model import TradeGenerator
from coldtier_assets.tables import EXCHANGES


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
        generator.paths.log_price[asset] = float(np.mean(logs))


class _LiveFeed:
    """Generated trades held until they are due (now, a resend delay later, or minutes late)."""

    def __init__(
        self, warm: WarmTier, generator: TradeGenerator, late_fraction: float, start_ns: int
    ) -> None:
        self.warm = warm
        self.generator = generator
        self.late_fraction = late_fraction
        self.generated_until = start_ns
        exchanges = generator.exchanges
        self.held: dict[str, Columns] = {name: empty_columns() for name in exchanges}
        self.held_until: dict[str, np.ndarray] = {name: np.empty(0, np.int64) for name in exchanges}
        self.held_resend: dict[str, np.ndarray] = {name: np.empty(0, np.bool_) for name in exchanges}
        self.trades = dict.fromkeys(exchanges, 0)
        self.duplicates = dict.fromkeys(exchanges, 0)
        self.late = dict.fromkeys(exchanges, 0)
        self.batches = 0

    def generate(self, now_ns: int) -> None:
        """Generate the trades since the last call, up to ``now_ns``, and hold each until it is due."""
        generator = self.generator
        span = generator.span(self.generated_until, now_ns)
        self.generated_until = now_ns
        for name in generator.exchanges:
            fresh = span.trades[name]
            n = len(fresh["trade_id"])
            is_late = generator.rng.random(n) < self.late_fraction
            self.late[name] += int(is_late.sum())
            delay = generator.rng.integers(120 * NS_PER_SECOND, 600 * NS_PER_SECOND, n)
            until = np.where(is_late, fresh["time_ns"] + delay, now_ns)
            again = span.resend[name]
            resend_until = now_ns + generator.rng.integers(1 * NS_PER_SECOND, 30 * NS_PER_SECOND, n)
            self.held[name] = concat_columns([self.held[name], fresh, take_rows(fresh, again)])
            self.held_until[name] = np.concatenate([self.held_until[name], until, resend_until[again]])
            self.held_resend[name] = np.concatenate(
                [self.held_resend[name], np.zeros(n, np.bool_), np.ones(int(again.sum()), np.bool_)]
            )

    def deliver(self, now_ns: int, *, everything: bool = False) -> None:
        """Write the trades due by ``now_ns`` (all held ones with ``everything``), stamped now."""
        tables: dict[str, pa.Table] = {}
        stamp = time.time_ns() // 1_000 * 1_000
        for name in self.generator.exchanges:
            until = self.held_until[name]
            due = np.ones(len(until), np.bool_) if everything else until <= now_ns
            out = take_rows(self.held[name], due)
            resends = self.held_resend[name][due]
            keep = ~due
            self.held[name] = take_rows(self.held[name], keep)
            self.held_until[name], self.held_resend[name] = until[keep], self.held_resend[name][keep]
            if len(out["trade_id"]):
                order = np.argsort(out["time_ns"], kind="stable")
                out = take_rows(out, order)
                out["ingest_ns"] = np.full(len(order), stamp, np.int64)
                tables[name] = bronze_arrow(name, out)
                self.duplicates[name] += int(resends.sum())
                self.trades[name] += int((~resends).sum())
        if tables:
            write_batch(self.warm, tables)
            self.batches += 1

    def run(self, interval_seconds: float, deadline: int | None, stop: threading.Event) -> None:
        """Every interval: generate up to now and write what is due, until ``deadline`` or ``stop``."""
        start_ns, tick = self.generated_until, 0
        while not stop.is_set():
            tick += 1
            target = start_ns + int(tick * interval_seconds * NS_PER_SECOND)
            if deadline is not None:
                target = min(target, deadline)
            wait = (target - time.time_ns()) / NS_PER_SECOND
            if wait > 0 and stop.wait(wait):
                break
            now_ns = time.time_ns() // NS_PER_MS * NS_PER_MS
            if now_ns > self.generated_until:
                self.generate(now_ns)
            self.deliver(now_ns)
            if deadline is not None and now_ns >= deadline:
                break


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
    began = time.perf_counter()
    start_ns = time.time_ns() // NS_PER_MS * NS_PER_MS
    deadline = None if duration_seconds is None else start_ns + int(duration_seconds * NS_PER_SECOND)
    generator = TradeGenerator(seed=seed, trades_per_second=trades_per_second, start_ns=start_ns)
    _resume(warm, generator)
    feed = _LiveFeed(warm, generator, late_fraction, start_ns)
    with suppress(KeyboardInterrupt):  # Ctrl-C ends the feed; what is held back is still written
        feed.run(interval_seconds, deadline, stop or threading.Event())
    feed.deliver(time.time_ns(), everything=True)
    return SimulationReport.build(
        start=from_ns(start_ns),
        end=from_ns(feed.generated_until),
        trades=feed.trades,
        duplicates=feed.duplicates,
        late=feed.late,
        batches=feed.batches,
        elapsed_seconds=time.perf_counter() - began,
    )
