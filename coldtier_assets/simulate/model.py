"""The trade model: a realistic multi-exchange stream of trades as numpy columns.

The model, vectorized with numpy and deterministic under a seed:

- **Activity** follows a market-wide regime (calm, normal, active, burst) that switches as a Markov
  chain second by second, times a daily cycle and a per-asset jitter; its long-run mean is 1, so the
  average rate is ``trades_per_second`` (:mod:`coldtier_assets.simulate.paths`). Taker orders arrive
  as a Poisson process at that intensity and each one fills one or more resting orders (several
  trades with the same timestamp and side, walking the book tick by tick).
- **Prices**: one geometric random walk per asset on a one-second grid (volatility rises with
  activity), shared by every market of the asset, plus a small mean-reverting basis per
  (exchange, symbol); trades print at the bid or ask, quantized to the market's tick. Takers lean
  towards the direction of the move.
- **Quantities**: log-normal notional, converted at the trade price and floored to the lot size.
- **Ids** increase strictly per (exchange, symbol), in trade-time order.
- **Resends**: about 0.5 % of trades are delivered a second time, identical except ``ingested_at``,
  in a later batch; ReplacingMergeTree + ``FINAL`` collapses them. Live mode can also hold back a
  fraction of trades and deliver them minutes late.

Prices and quantities are integers in units of 1e-8 from generation to the Arrow ``decimal128(18, 8)``
columns: no float is ever stored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from coldtier_assets.simulate.clock import NS_PER_MS, NS_PER_SECOND
from coldtier_assets.simulate.columns import Columns, concat_columns, take_rows
from coldtier_assets.simulate.markets import ASSETS, EXCHANGE_SHARE, MARKETS, QUOTE_USD, UNIT, Market
from coldtier_assets.simulate.paths import Grid, MarketPaths
from coldtier_assets.tables import EXCHANGES

#: Trades are generated in fixed spans of this length from the start, whatever the batch size,
#: so the trades depend on (seed, start, end, rate) only.
BLOCK_SECONDS = 60
#: Timestamp precision of each exchange's native feed, in nanoseconds.
TIME_PRECISION_NS: dict[str, int] = {"binance": 1_000_000, "kraken": 100_000, "coinbase": 1_000}
#: Share of trades delivered a second time (an exchange resend).
DUPLICATE_FRACTION = 0.005

# Trade ids start at a level that grows with the start time, so consecutive runs continue upwards.
_ID_EPOCH_NS = 1_577_836_800 * NS_PER_SECOND  # 2020-01-01
_IDS_PER_SECOND = 1_000
_ID_BASE = 1_000_000_000

_FILL_P = 0.65  # fills per taker order ~ Geometric(p), capped
_FILL_CAP = 12
_MEAN_FILLS = (1.0 - (1.0 - _FILL_P) ** _FILL_CAP) / _FILL_P
_NOTIONAL_SIGMA = 1.5  # log-normal spread of trade notional
_NOTIONAL_MAX_USD = 2_000_000.0
_SECONDS_PER_YEAR = 365.0 * 86_400.0


@dataclass
class Span:
    """The trades of one generated time span, per exchange, with the rows chosen to be resent."""

    trades: dict[str, Columns]
    resend: dict[str, np.ndarray]  # boolean mask per exchange
    resend_delay_ns: dict[str, np.ndarray]  # delay of each trade's resend


@dataclass
class _Orders:
    """Taker orders of a span, market-major then by time: when, where, at what mid, how many fills."""

    t: np.ndarray  # order time (ns)
    mkt: np.ndarray  # index into TradeGenerator.markets
    mid_ticks: np.ndarray  # mid price in ticks of the market
    taker_buy: np.ndarray
    fills: np.ndarray
    market_order: np.ndarray
    latency_ms: np.ndarray  # Binance event time minus trade time
    ingest_delay: np.ndarray


class TradeGenerator:
    """The stateful feed model; every random draw comes from one seeded numpy Generator."""

    def __init__(self, *, seed: int, trades_per_second: float, start_ns: int) -> None:
        if trades_per_second <= 0:
            raise ValueError(f"trades_per_second must be positive, got {trades_per_second}")
        self.rng = np.random.default_rng(seed)
        self.exchanges: tuple[str, ...] = tuple(exchange.name for exchange in EXCHANGES)
        missing = [name for name in self.exchanges if name not in MARKETS]
        if missing:
            raise ValueError(
                f"no simulated markets for exchanges {missing} (add them to simulate/markets.py)"
            )
        self.markets: list[Market] = [market for name in self.exchanges for market in MARKETS[name]]
        assets = sorted({market.base for market in self.markets})
        self.asset_of = np.array([assets.index(market.base) for market in self.markets], np.intp)
        self.exchange_of = np.array(
            [self.exchanges.index(market.exchange) for market in self.markets], np.intp
        )
        self.local_index = np.array(
            [MARKETS[market.exchange].index(market) for market in self.markets], np.int8
        )
        self.tick = np.array([market.tick_units for market in self.markets], np.int64)
        self.lot = np.array([market.lot_units for market in self.markets], np.int64)
        self.log_quote = np.array([math.log(QUOTE_USD[market.quote]) for market in self.markets])
        self.log_notional = np.array([math.log(market.median_notional_usd) for market in self.markets])
        self.precision = np.array([TIME_PRECISION_NS[name] for name in self.exchanges], np.int64)[
            self.exchange_of
        ]
        self.vol = np.array([ASSETS[a].annual_volatility / math.sqrt(_SECONDS_PER_YEAR) for a in assets])
        self.paths = MarketPaths(
            self.rng,
            rate=float(trades_per_second),
            share=self._market_shares(),
            asset_of=self.asset_of,
            vol=self.vol,
            usd=np.array([ASSETS[a].usd_price for a in assets]),
            start_ns=start_ns,
        )
        id_level = _ID_BASE + max(0, (start_ns - _ID_EPOCH_NS) // NS_PER_SECOND) * _IDS_PER_SECOND
        self.next_id = np.full(len(self.markets), id_level, np.int64)

    def _market_shares(self) -> np.ndarray:
        """Each market's share of all trades: its weight within its exchange, times the exchange's share."""
        raw = {name: EXCHANGE_SHARE.get(name, 0.2) for name in self.exchanges}
        total = sum(raw.values())
        shares = {name: value / total for name, value in raw.items()}
        weights = np.array([market.weight for market in self.markets])
        for index, name in enumerate(self.exchanges):
            mask = self.exchange_of == index
            weights[mask] = weights[mask] / weights[mask].sum() * shares[name]
        return weights

    def span(self, t0: int, t1: int) -> Span:
        """Generate the trades with trade time in ``[t0, t1)`` (ns, ms-aligned), a block at a time."""
        parts: list[Span] = []
        step = BLOCK_SECONDS * NS_PER_SECOND
        for lo in range(t0, t1, step):
            parts.append(self._span(lo, min(lo + step, t1)))
        if len(parts) == 1:
            return parts[0]
        return Span(
            trades={e: concat_columns([p.trades[e] for p in parts]) for e in self.exchanges},
            resend={e: np.concatenate([p.resend[e] for p in parts]) for e in self.exchanges},
            resend_delay_ns={
                e: np.concatenate([p.resend_delay_ns[e] for p in parts]) for e in self.exchanges
            },
        )

    def _span(self, t0: int, t1: int) -> Span:
        orders = self._orders(self.paths.covering(t0, t1), t0, t1)
        return self._trades(orders)

    def _orders(self, grid: Grid, t0: int, t1: int) -> _Orders:
        """Taker orders: Poisson counts per (second, market), uniform times within the second."""
        rng = self.rng
        second_start = grid["second"] * NS_PER_SECOND
        lo = np.maximum(second_start, t0)
        overlap = np.minimum(second_start + NS_PER_SECOND, t1) - lo
        n_sec, n_mkt = len(second_start), len(self.markets)
        lam = grid["intensity"] * (overlap / NS_PER_SECOND)[:, None] / _MEAN_FILLS
        counts = rng.poisson(lam).T.ravel()  # market-major
        n_orders = int(counts.sum())
        sec = np.repeat(np.tile(np.arange(n_sec), n_mkt), counts)
        mkt = np.repeat(np.repeat(np.arange(n_mkt), n_sec), counts)
        t = lo[sec] + (rng.random(n_orders) * overlap[sec]).astype(np.int64)
        order = np.argsort((mkt.astype(np.int64) << 42) | (t - t0), kind="stable")
        t, sec = t[order], sec[order]
        asset = self.asset_of[mkt]
        # The mid: the asset's path and the market's basis, interpolated within the second.
        frac = (t - second_start[sec]) / NS_PER_SECOND
        log_asset = grid["log_start"][sec, asset] + frac * (
            grid["log_end"][sec, asset] - grid["log_start"][sec, asset]
        )
        log_asset += rng.normal(0.0, 0.25, n_orders) * self.vol[asset]
        basis = grid["basis_start"][sec, mkt] + frac * (
            grid["basis_end"][sec, mkt] - grid["basis_start"][sec, mkt]
        )
        return _Orders(
            t=t,
            mkt=mkt,
            mid_ticks=np.exp(log_asset + basis - self.log_quote[mkt]) * UNIT / self.tick[mkt],
            taker_buy=rng.random(n_orders) < 0.5 + 0.2 * grid["tilt"][sec, asset],
            fills=np.minimum(rng.geometric(_FILL_P, n_orders), _FILL_CAP),
            market_order=rng.random(n_orders) < 0.82,
            latency_ms=np.minimum(rng.geometric(0.55, n_orders) - 1, 20),
            ingest_delay=2 * NS_PER_MS + rng.exponential(30 * NS_PER_MS, n_orders).astype(np.int64),
        )

    def _trades(self, orders: _Orders) -> Span:
        """Expand orders into fills (same timestamp and side, walking the book 0-1 tick per fill)."""
        rng = self.rng
        fills = orders.fills
        n_trades = int(fills.sum())
        of = np.repeat(np.arange(len(fills)), fills)
        first_fill = np.cumsum(fills) - fills
        walked = np.cumsum(rng.integers(0, 2, n_trades))
        level = walked - walked[first_fill][of] if n_trades else walked
        tmkt = orders.mkt[of]
        bid = np.floor(orders.mid_ticks).astype(np.int64)[of]
        buy = orders.taker_buy[of]
        price = np.maximum(np.where(buy, bid + 1 + level, bid - level), 1) * self.tick[tmkt]
        notional = np.minimum(
            np.exp(self.log_notional[tmkt] + _NOTIONAL_SIGMA * rng.standard_normal(n_trades)),
            _NOTIONAL_MAX_USD,
        )
        quantity_units = notional * np.exp(-self.log_quote[tmkt]) * (float(UNIT) * UNIT) / price
        lots = np.maximum(np.floor(quantity_units / self.lot[tmkt]).astype(np.int64), 1)
        resend = rng.random(n_trades) < DUPLICATE_FRACTION
        resend_delay = rng.integers(1 * NS_PER_SECOND, 180 * NS_PER_SECOND, n_trades)
        time_q, event, ingest = self._timestamps(orders)
        columns: Columns = {
            "market": self.local_index[tmkt],
            "time_ns": time_q[of],
            "event_ns": event[of],
            "trade_id": self._trade_ids(tmkt),
            "price": price,
            "quantity": lots * self.lot[tmkt],
            "taker_buy": buy,
            "market_order": orders.market_order[of],
            "ingest_ns": ingest[of],
        }
        return self._by_exchange(columns, tmkt, orders.t[of], resend, resend_delay)

    def _trade_ids(self, tmkt: np.ndarray) -> np.ndarray:
        """Ids consecutive per market in (time, fill) order, continuing from the previous span."""
        per_market = np.bincount(tmkt, minlength=len(self.markets))
        market_first = np.cumsum(per_market) - per_market
        trade_id = self.next_id[tmkt] + (np.arange(len(tmkt)) - market_first[tmkt])
        self.next_id += per_market
        return trade_id

    def _timestamps(self, orders: _Orders) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per order: trade time at the exchange's precision, event time, ingestion time (µs)."""
        time_q = orders.t - orders.t % self.precision[orders.mkt]
        binance = self.exchange_of[orders.mkt] == self.exchanges.index("binance")
        event = np.where(binance, time_q + orders.latency_ms * NS_PER_MS, time_q)
        ingest = event + orders.ingest_delay
        ingest -= ingest % 1_000
        return time_q, event, ingest

    def _by_exchange(
        self,
        columns: Columns,
        tmkt: np.ndarray,
        trade_time: np.ndarray,
        resend: np.ndarray,
        resend_delay: np.ndarray,
    ) -> Span:
        """Split per exchange (markets are exchange-major) and order each exchange's trades by time."""
        trades: dict[str, Columns] = {}
        resends: dict[str, np.ndarray] = {}
        delays: dict[str, np.ndarray] = {}
        bounds = np.searchsorted(self.exchange_of[tmkt], np.arange(len(self.exchanges) + 1))
        for index, name in enumerate(self.exchanges):
            part = slice(int(bounds[index]), int(bounds[index + 1]))
            by_time = np.argsort(trade_time[part], kind="stable")
            trades[name] = take_rows(take_rows(columns, part), by_time)
            resends[name] = resend[part][by_time]
            delays[name] = resend_delay[part][by_time]
        return Span(trades, resends, delays)
