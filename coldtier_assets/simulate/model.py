"""The trade model: a realistic multi-exchange stream of trades as numpy columns.

The model, vectorized with numpy and deterministic under a seed:

- **Activity** follows a market-wide regime (calm, normal, active, burst) that switches as a Markov
  chain second by second, times a daily cycle and a per-asset jitter; its long-run mean is 1, so the
  average rate is ``trades_per_second``. Taker orders arrive as a Poisson process at that intensity
  and each one fills one or more resting orders (several trades with the same timestamp and side,
  walking the book tick by tick).
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
from datetime import UTC, datetime, timedelta

import numpy as np

from coldtier_assets.simulate.markets import ASSETS, EXCHANGE_SHARE, MARKETS, QUOTE_USD, UNIT, Market
from coldtier_assets.tables import EXCHANGES

NS_PER_SECOND = 1_000_000_000
NS_PER_MS = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

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

# Activity regimes: level and per-second transition probabilities (rows sum to 1).
_REGIME_LEVEL = np.array([0.45, 1.0, 2.2, 6.0])
_REGIME_TRANSITION = np.array(
    [
        [0.995, 0.005, 0.000, 0.000],
        [0.003, 0.990, 0.005, 0.002],
        [0.000, 0.020, 0.970, 0.010],
        [0.000, 0.030, 0.050, 0.920],
    ]
)
_JITTER_SIGMA = 0.35  # per-second, per-asset log-normal activity noise
_DIURNAL_AMPLITUDE = 0.25  # activity peaks at 15:00 UTC
_FILL_P = 0.65  # fills per taker order ~ Geometric(p), capped
_FILL_CAP = 12
_BASIS_PHI = math.exp(-1.0 / 30.0)  # per-second mean reversion of the per-market basis
_BASIS_SIGMA = 1.5e-4  # stationary standard deviation of the basis (1.5 bp)
_NOTIONAL_SIGMA = 1.5  # log-normal spread of trade notional
_NOTIONAL_MAX_USD = 2_000_000.0
_SECONDS_PER_YEAR = 365.0 * 86_400.0


def _stationary(transition: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eig(transition.T)
    vector = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
    return vector / vector.sum()


_REGIME_MEAN = float(_stationary(_REGIME_TRANSITION) @ _REGIME_LEVEL)
_REGIME_NORMALIZED = _REGIME_LEVEL / _REGIME_MEAN
_REGIME_CUMULATIVE: list[list[float]] = np.cumsum(_REGIME_TRANSITION, axis=1).tolist()
_MEAN_FILLS = (1.0 - (1.0 - _FILL_P) ** _FILL_CAP) / _FILL_P


def to_ns(moment: datetime) -> int:
    """Convert a datetime (naive means UTC) to nanoseconds since the Unix epoch, exactly."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1_000


def from_ns(ns: int) -> datetime:
    """Convert nanoseconds since the Unix epoch to a UTC datetime (truncated to microseconds)."""
    return _EPOCH + timedelta(microseconds=ns // 1_000)


# --------------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------------

#: Per-exchange trade columns, as numpy arrays (one entry per trade, time-ordered).
Columns = dict[str, np.ndarray]

_COLUMN_DTYPES: dict[str, type] = {
    "market": np.int8,  # index into MARKETS[exchange]
    "time_ns": np.int64,  # trade time, quantized to the exchange's precision
    "event_ns": np.int64,  # Binance event time (>= trade time); equal to time_ns elsewhere
    "trade_id": np.int64,
    "price": np.int64,  # units of 1e-8
    "quantity": np.int64,  # units of 1e-8
    "taker_buy": np.bool_,
    "market_order": np.bool_,  # Kraken order type: market (m) or limit (l)
    "ingest_ns": np.int64,
}


def empty_columns() -> Columns:
    """Columns holding no trades."""
    return {name: np.empty(0, dtype) for name, dtype in _COLUMN_DTYPES.items()}


def take_rows(columns: Columns, index: np.ndarray | slice) -> Columns:
    """The rows of every column selected by ``index``."""
    return {name: values[index] for name, values in columns.items()}


def concat_columns(parts: list[Columns]) -> Columns:
    """The trades of ``parts`` one after the other (empty parts skipped)."""
    parts = [part for part in parts if len(part["trade_id"])]
    if not parts:
        return empty_columns()
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([part[name] for part in parts]) for name in _COLUMN_DTYPES}


@dataclass
class _Span:
    """The trades of one generated time span, per exchange, with the rows chosen to be resent."""

    trades: dict[str, Columns]
    resend: dict[str, np.ndarray]  # boolean mask per exchange
    resend_delay_ns: dict[str, np.ndarray]  # delay of each trade's resend


class TradeGenerator:
    """The stateful feed model; every random draw comes from one seeded numpy Generator."""

    def __init__(self, *, seed: int, trades_per_second: float, start_ns: int) -> None:
        if trades_per_second <= 0:
            raise ValueError(f"trades_per_second must be positive, got {trades_per_second}")
        self.rng = np.random.default_rng(seed)
        self.rate = float(trades_per_second)
        self.exchanges: tuple[str, ...] = tuple(exchange.name for exchange in EXCHANGES)
        missing = [name for name in self.exchanges if name not in MARKETS]
        if missing:
            raise ValueError(
                f"no simulated markets for exchanges {missing} (add them to simulate/markets.py)"
            )
        self.markets: list[Market] = [market for name in self.exchanges for market in MARKETS[name]]
        assets = sorted({market.base for market in self.markets})
        shares = _exchange_shares(self.exchanges)
        m = len(self.markets)
        self.asset_names = assets
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
        weights = np.array([market.weight for market in self.markets])
        for index, name in enumerate(self.exchanges):
            mask = self.exchange_of == index
            weights[mask] = weights[mask] / weights[mask].sum() * shares[name]
        self.share = weights
        self.precision = np.array([TIME_PRECISION_NS[name] for name in self.exchanges], np.int64)[
            self.exchange_of
        ]
        self.vol = np.array([ASSETS[a].annual_volatility / math.sqrt(_SECONDS_PER_YEAR) for a in assets])
        usd = np.array([ASSETS[a].usd_price for a in assets])
        # State: the regime, and the last generated second with its values (a span may start inside it).
        self.regime = 1
        self.last_second = start_ns // NS_PER_SECOND - 1
        self.log_price = np.log(usd) + self.rng.normal(0.0, 0.03, len(assets))
        self.basis = self.rng.normal(0.0, _BASIS_SIGMA, m)
        self.cached: dict[str, np.ndarray] | None = None
        id_level = _ID_BASE + max(0, (start_ns - _ID_EPOCH_NS) // NS_PER_SECOND) * _IDS_PER_SECOND
        self.next_id = np.full(m, id_level, np.int64)

    # -- per-second grid ---------------------------------------------------------------------------

    def _advance_seconds(self, first: int, last: int) -> dict[str, np.ndarray]:
        """Generate the seconds ``first..last`` (inclusive): activity, price and basis paths."""
        k = last - first + 1
        rng = self.rng
        draws = rng.random(k).tolist()
        regimes = np.empty(k, np.intp)
        regime = self.regime
        for index, draw in enumerate(draws):
            row = _REGIME_CUMULATIVE[regime]
            regime = next((state for state, bound in enumerate(row) if draw < bound), len(row) - 1)
            regimes[index] = regime
        self.regime = regime
        seconds = np.arange(first, last + 1, dtype=np.int64)
        day_phase = (seconds % 86_400) / 86_400.0 - 15.0 / 24.0
        diurnal = 1.0 + _DIURNAL_AMPLITUDE * np.cos(2.0 * np.pi * day_phase)
        n_assets = len(self.asset_names)
        jitter = np.exp(rng.normal(-0.5 * _JITTER_SIGMA**2, _JITTER_SIGMA, (k, n_assets)))
        activity = _REGIME_NORMALIZED[regimes][:, None] * jitter  # (k, assets)
        intensity = self.rate * self.share[None, :] * diurnal[:, None] * activity[:, self.asset_of]
        shocks = rng.standard_normal((k, n_assets))
        returns = self.vol[None, :] * np.sqrt(activity) * shocks
        log_end = self.log_price[None, :] + np.cumsum(returns, axis=0)
        log_start = np.vstack([self.log_price[None, :], log_end[:-1]])
        self.log_price = log_end[-1].copy()
        basis_end = _ornstein_uhlenbeck(self.basis, rng.standard_normal((k, len(self.markets))))
        basis_start = np.vstack([self.basis[None, :], basis_end[:-1]])
        self.basis = basis_end[-1].copy()
        self.last_second = last
        return {
            "second": seconds,
            "intensity": intensity,
            "log_start": log_start,
            "log_end": log_end,
            "basis_start": basis_start,
            "basis_end": basis_end,
            "tilt": np.tanh(shocks),
        }

    def _grid(self, t0: int, t1: int) -> dict[str, np.ndarray]:
        """Return the per-second values covering ``[t0, t1)``, reusing the cached second it starts in."""
        first, last = t0 // NS_PER_SECOND, (t1 - 1) // NS_PER_SECOND
        parts: list[dict[str, np.ndarray]] = []
        if self.cached is not None and first <= self.last_second:
            parts.append(self.cached)
        if last > self.last_second:
            parts.append(self._advance_seconds(self.last_second + 1, last))
        grid = (
            parts[0]
            if len(parts) == 1
            else {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
        )
        self.cached = {key: values[-1:] for key, values in grid.items()}
        return grid

    # -- trades --------------------------------------------------------------------------------------

    def span(self, t0: int, t1: int) -> _Span:
        """Generate the trades with trade time in ``[t0, t1)`` (ns, ms-aligned), a block at a time."""
        parts: list[_Span] = []
        step = BLOCK_SECONDS * NS_PER_SECOND
        for lo in range(t0, t1, step):
            parts.append(self._span(lo, min(lo + step, t1)))
        if len(parts) == 1:
            return parts[0]
        return _Span(
            trades={e: concat_columns([p.trades[e] for p in parts]) for e in self.exchanges},
            resend={e: np.concatenate([p.resend[e] for p in parts]) for e in self.exchanges},
            resend_delay_ns={
                e: np.concatenate([p.resend_delay_ns[e] for p in parts]) for e in self.exchanges
            },
        )

    def _span(self, t0: int, t1: int) -> _Span:
        rng = self.rng
        grid = self._grid(t0, t1)
        second_start = grid["second"] * NS_PER_SECOND
        lo = np.maximum(second_start, t0)
        overlap = np.minimum(second_start + NS_PER_SECOND, t1) - lo
        n_sec, n_mkt = len(second_start), len(self.markets)

        # Taker orders: Poisson counts per (second, market), uniform times within the second.
        lam = grid["intensity"] * (overlap / NS_PER_SECOND)[:, None] / _MEAN_FILLS
        counts = rng.poisson(lam).T.ravel()  # market-major
        n_orders = int(counts.sum())
        sec = np.repeat(np.tile(np.arange(n_sec), n_mkt), counts)
        mkt = np.repeat(np.repeat(np.arange(n_mkt), n_sec), counts)
        t = lo[sec] + (rng.random(n_orders) * overlap[sec]).astype(np.int64)
        order = np.argsort((mkt.astype(np.int64) << 42) | (t - t0), kind="stable")
        t, sec = t[order], sec[order]
        asset = self.asset_of[mkt]

        frac = (t - second_start[sec]) / NS_PER_SECOND
        log_asset = grid["log_start"][sec, asset] + frac * (
            grid["log_end"][sec, asset] - grid["log_start"][sec, asset]
        )
        log_asset += rng.normal(0.0, 0.25, n_orders) * self.vol[asset]
        basis = grid["basis_start"][sec, mkt] + frac * (
            grid["basis_end"][sec, mkt] - grid["basis_start"][sec, mkt]
        )
        mid_ticks = np.exp(log_asset + basis - self.log_quote[mkt]) * UNIT / self.tick[mkt]
        taker_buy = rng.random(n_orders) < 0.5 + 0.2 * grid["tilt"][sec, asset]
        fills = np.minimum(rng.geometric(_FILL_P, n_orders), _FILL_CAP)
        market_order = rng.random(n_orders) < 0.82
        latency_ms = np.minimum(rng.geometric(0.55, n_orders) - 1, 20)
        ingest_delay = 2 * NS_PER_MS + rng.exponential(30 * NS_PER_MS, n_orders).astype(np.int64)

        # Expand orders into fills: same timestamp and side, walking the book 0-1 tick per fill.
        n_trades = int(fills.sum())
        of = np.repeat(np.arange(n_orders), fills)
        first_fill = np.cumsum(fills) - fills
        steps = rng.integers(0, 2, n_trades)
        walked = np.cumsum(steps)
        level = walked - walked[first_fill][of] if n_trades else walked
        tmkt = mkt[of]
        bid = np.floor(mid_ticks).astype(np.int64)[of]
        buy = taker_buy[of]
        price_ticks = np.maximum(np.where(buy, bid + 1 + level, bid - level), 1)
        price = price_ticks * self.tick[tmkt]
        notional = np.minimum(
            np.exp(self.log_notional[tmkt] + _NOTIONAL_SIGMA * rng.standard_normal(n_trades)),
            _NOTIONAL_MAX_USD,
        )
        quantity_units = notional * np.exp(-self.log_quote[tmkt]) * (float(UNIT) * UNIT) / price
        lots = np.maximum(np.floor(quantity_units / self.lot[tmkt]).astype(np.int64), 1)
        quantity = lots * self.lot[tmkt]
        resend = rng.random(n_trades) < DUPLICATE_FRACTION
        resend_delay = rng.integers(1 * NS_PER_SECOND, 180 * NS_PER_SECOND, n_trades)

        # Ids: consecutive per market in (time, fill) order.
        per_market = np.bincount(tmkt, minlength=n_mkt)
        market_first = np.cumsum(per_market) - per_market
        trade_id = self.next_id[tmkt] + (np.arange(n_trades) - market_first[tmkt])
        self.next_id += per_market

        precision = self.precision[mkt]
        time_q = t - t % precision
        event = np.where(
            self.exchange_of[mkt] == self.exchanges.index("binance"), time_q + latency_ms * NS_PER_MS, time_q
        )
        ingest = event + ingest_delay
        ingest -= ingest % 1_000
        columns: Columns = {
            "market": self.local_index[tmkt],
            "time_ns": time_q[of],
            "event_ns": event[of],
            "trade_id": trade_id,
            "price": price,
            "quantity": quantity,
            "taker_buy": buy,
            "market_order": market_order[of],
            "ingest_ns": ingest[of],
        }

        # Split per exchange (markets are exchange-major) and order each exchange's trades by time.
        trades: dict[str, Columns] = {}
        resends: dict[str, np.ndarray] = {}
        delays: dict[str, np.ndarray] = {}
        bounds = np.searchsorted(self.exchange_of[tmkt], np.arange(len(self.exchanges) + 1))
        trade_time = t[of]
        for index, name in enumerate(self.exchanges):
            part = slice(int(bounds[index]), int(bounds[index + 1]))
            by_time = np.argsort(trade_time[part], kind="stable")
            trades[name] = take_rows(take_rows(columns, part), by_time)
            resends[name] = resend[part][by_time]
            delays[name] = resend_delay[part][by_time]
        return _Span(trades, resends, delays)


def _exchange_shares(exchanges: tuple[str, ...]) -> dict[str, float]:
    raw = {name: EXCHANGE_SHARE.get(name, 0.2) for name in exchanges}
    total = sum(raw.values())
    return {name: value / total for name, value in raw.items()}


def _ornstein_uhlenbeck(start: np.ndarray, shocks: np.ndarray) -> np.ndarray:
    """AR(1) path ``x[k] = phi * x[k-1] + s * shock[k]`` for k = 1..K, vectorized (K x markets)."""
    k = shocks.shape[0]
    innovation = _BASIS_SIGMA * math.sqrt(1.0 - _BASIS_PHI**2)
    out = np.empty_like(shocks)
    chunk = 64
    current = start
    for lo in range(0, k, chunk):
        block = shocks[lo : lo + chunk] * innovation
        n = len(block)
        powers = _BASIS_PHI ** np.arange(1, n + 1)
        lags = np.subtract.outer(np.arange(n), np.arange(n))
        weights = np.where(lags >= 0, _BASIS_PHI ** np.maximum(lags, 0), 0.0)
        out[lo : lo + n] = powers[:, None] * current[None, :] + weights @ block
        current = out[lo + n - 1]
    return out
