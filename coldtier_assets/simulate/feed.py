"""A realistic multi-exchange trade feed written into the Bronze tables, historical or live.

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
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa

from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.simulate.markets import ASSETS, EXCHANGE_SHARE, MARKETS, QUOTE_USD, UNIT, Market
from coldtier_assets.tables import EXCHANGES

NS_PER_SECOND = 1_000_000_000
_NS_PER_MS = 1_000_000
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


def _empty_columns() -> Columns:
    return {name: np.empty(0, dtype) for name, dtype in _COLUMN_DTYPES.items()}


def _take(columns: Columns, index: np.ndarray | slice) -> Columns:
    return {name: values[index] for name, values in columns.items()}


def _concat(parts: list[Columns]) -> Columns:
    parts = [part for part in parts if len(part["trade_id"])]
    if not parts:
        return _empty_columns()
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([part[name] for part in parts]) for name in _COLUMN_DTYPES}


@dataclass
class _Span:
    """The trades of one generated time span, per exchange, with the rows chosen to be resent."""

    trades: dict[str, Columns]
    resend: dict[str, np.ndarray]  # boolean mask per exchange
    resend_delay_ns: dict[str, np.ndarray]  # delay of each trade's resend


class _Generator:
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
            trades={e: _concat([p.trades[e] for p in parts]) for e in self.exchanges},
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
        ingest_delay = 2 * _NS_PER_MS + rng.exponential(30 * _NS_PER_MS, n_orders).astype(np.int64)

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
            self.exchange_of[mkt] == self.exchanges.index("binance"), time_q + latency_ms * _NS_PER_MS, time_q
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
            trades[name] = _take(_take(columns, part), by_time)
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
    divisor = {"ms": _NS_PER_MS, "us": 1_000}[unit]
    return pa.array(ns // divisor, pa.timestamp(unit, tz="UTC"))


def _labels(codes: np.ndarray, labels: list[str]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int8)), pa.array(labels, pa.string()))


def _empty_strings(n: int) -> pa.Array:
    return pa.Array.from_buffers(
        pa.string(), n, [None, pa.py_buffer(np.zeros(n + 1, np.int32)), pa.py_buffer(b"")]
    )


def bronze_arrow(exchange: str, columns: Mapping[str, np.ndarray]) -> pa.Table:
    """Build the Arrow table of trades in ``bronze_trades_<exchange>``'s native columns (DDL names)."""
    symbols = [market.symbol for market in MARKETS[exchange]]
    symbol = _labels(columns["market"], symbols)
    price, quantity = _decimal(columns["price"]), _decimal(columns["quantity"])
    trade_id = pa.array(columns["trade_id"], pa.int64())
    ingested_at = _timestamp(columns["ingest_ns"], "us")
    taker_buy = columns["taker_buy"]
    if exchange == "binance":
        return pa.table(
            {
                "event_time": _timestamp(columns["event_ns"], "ms"),
                "symbol": symbol,
                "trade_id": trade_id,
                "price": price,
                "quantity": quantity,
                "trade_time": _timestamp(columns["time_ns"], "ms"),
                "is_buyer_maker": pa.array(~taker_buy),
                "ingested_at": ingested_at,
            }
        )
    if exchange == "kraken":
        return pa.table(
            {
                "pair": symbol,
                "price": price,
                "volume": quantity,
                "time": _timestamp(columns["time_ns"], "us"),
                "side": _labels(np.where(taker_buy, 0, 1), ["b", "s"]),
                "order_type": _labels(np.where(columns["market_order"], 0, 1), ["m", "l"]),
                "misc": _empty_strings(len(trade_id)),
                "trade_id": trade_id,
                "ingested_at": ingested_at,
            }
        )
    if exchange == "coinbase":
        return pa.table(
            {
                "trade_id": trade_id,
                "product_id": symbol,
                "price": price,
                "size": quantity,
                "side": _labels(np.where(taker_buy, 1, 0), ["buy", "sell"]),  # the maker's side
                "time": _timestamp(columns["time_ns"], "us"),
                "ingested_at": ingested_at,
            }
        )
    raise ValueError(f"unknown exchange {exchange!r}")


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
    t0 = -(-to_ns(start) // _NS_PER_MS) * _NS_PER_MS  # ms-aligned: quantized times stay in range
    t1 = to_ns(end) // _NS_PER_MS * _NS_PER_MS
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
    generator = _Generator(seed=seed, trades_per_second=trades_per_second, start_ns=t0)
    exchanges = generator.exchanges
    batch_ns = batch_seconds * NS_PER_SECOND
    block_ns = BLOCK_SECONDS * NS_PER_SECOND
    buffered: dict[str, list[Columns]] = {name: [] for name in exchanges}
    buffered_resend: dict[str, list[Columns]] = {name: [] for name in exchanges}
    pending: dict[str, Columns] = {name: _empty_columns() for name in exchanges}
    generated_until = t0

    for batch_lo in range(t0, t1, batch_ns):
        batch_hi = min(batch_lo + batch_ns, t1)
        while generated_until < batch_hi:
            block_hi = min(generated_until + block_ns, t1)
            span = generator.span(generated_until, block_hi)
            for name in exchanges:
                trades = span.trades[name]
                buffered[name].append(trades)
                again = _take(trades, span.resend[name])
                again["ingest_ns"] = (
                    again["ingest_ns"] + span.resend_delay_ns[name][span.resend[name]] // 1_000 * 1_000
                )
                buffered_resend[name].append(again)
            generated_until = block_hi
        tables: dict[str, pa.Table] = {}
        counts: dict[str, int] = {}
        resent: dict[str, int] = {}
        for name in exchanges:
            trades = _concat(buffered[name])
            resends = _concat(buffered_resend[name])
            cut = int(np.searchsorted(trades["time_ns"], batch_hi))
            cut_resend = int(np.searchsorted(resends["time_ns"], batch_hi))
            buffered[name] = [_take(trades, slice(cut, None))]
            buffered_resend[name] = [_take(resends, slice(cut_resend, None))]
            current = _take(trades, slice(0, cut))
            counts[name] = cut
            resent[name] = len(pending[name]["trade_id"])
            tables[name] = bronze_arrow(name, _concat([pending[name], current]))
            pending[name] = _take(resends, slice(0, cut_resend))
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


def _resume(warm: WarmTier, generator: _Generator) -> None:
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
    start_ns = time.time_ns() // _NS_PER_MS * _NS_PER_MS
    deadline = None if duration_seconds is None else start_ns + int(duration_seconds * NS_PER_SECOND)
    generator = _Generator(seed=seed, trades_per_second=trades_per_second, start_ns=start_ns)
    _resume(warm, generator)
    exchanges = generator.exchanges
    held: dict[str, Columns] = {name: _empty_columns() for name in exchanges}
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
            out = _take(held[name], due)
            resends = held_resend[name][due]
            keep = ~due
            held[name], held_until[name], held_resend[name] = (
                _take(held[name], keep),
                held_until[name][keep],
                held_resend[name][keep],
            )
            if len(out["trade_id"]):
                order = np.argsort(out["time_ns"], kind="stable")
                out = _take(out, order)
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
            now_ns = time.time_ns() // _NS_PER_MS * _NS_PER_MS
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
                    held[name] = _concat([held[name], fresh, _take(fresh, again)])
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
