"""The per-second market paths behind the trades: activity regime, asset prices, per-market basis.

Activity follows a market-wide regime (calm, normal, active, burst) that switches as a Markov chain
second by second, times a daily cycle and a per-asset jitter; its long-run mean is 1. Prices are one
geometric random walk per asset (volatility rises with activity) plus a small mean-reverting basis
per market. :class:`MarketPaths` advances them one second at a time; the trade model
(:mod:`coldtier_assets.simulate.model`) interpolates within each second.
"""

from __future__ import annotations

import math

import numpy as np

from coldtier_assets.simulate.clock import NS_PER_SECOND

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
_BASIS_PHI = math.exp(-1.0 / 30.0)  # per-second mean reversion of the per-market basis
_BASIS_SIGMA = 1.5e-4  # stationary standard deviation of the basis (1.5 bp)
_START_PRICE_SIGMA = 0.03  # log-normal spread of the starting prices around the reference ones


def _stationary(transition: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eig(transition.T)
    vector = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
    return vector / vector.sum()


_REGIME_MEAN = float(_stationary(_REGIME_TRANSITION) @ _REGIME_LEVEL)
_REGIME_NORMALIZED = _REGIME_LEVEL / _REGIME_MEAN
_REGIME_CUMULATIVE: list[list[float]] = np.cumsum(_REGIME_TRANSITION, axis=1).tolist()

#: The per-second values of a stretch of seconds (one row per second).
Grid = dict[str, np.ndarray]


class MarketPaths:
    """The state advanced second by second, and the per-second grid a span of trades is drawn on.

    ``share`` is each market's share of the trade rate, ``asset_of`` its asset, ``vol`` each asset's
    per-second volatility and ``usd`` its reference price. Every draw comes from ``rng``, shared with
    the trade model, so the order of calls is part of the seed's meaning.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        *,
        rate: float,
        share: np.ndarray,
        asset_of: np.ndarray,
        vol: np.ndarray,
        usd: np.ndarray,
        start_ns: int,
    ) -> None:
        self.rng = rng
        self.rate = rate
        self.share = share
        self.asset_of = asset_of
        self.vol = vol
        # The regime, and the last generated second with its values (a span may start inside it).
        self.regime = 1
        self.last_second = start_ns // NS_PER_SECOND - 1
        self.log_price = np.log(usd) + rng.normal(0.0, _START_PRICE_SIGMA, len(usd))
        self.basis = rng.normal(0.0, _BASIS_SIGMA, len(share))
        self.cached: Grid | None = None

    def covering(self, t0: int, t1: int) -> Grid:
        """The per-second values covering ``[t0, t1)`` (ns), reusing the cached second it starts in."""
        first, last = t0 // NS_PER_SECOND, (t1 - 1) // NS_PER_SECOND
        parts: list[Grid] = []
        if self.cached is not None and first <= self.last_second:
            parts.append(self.cached)
        if last > self.last_second:
            parts.append(self._advance(self.last_second + 1, last))
        grid = (
            parts[0]
            if len(parts) == 1
            else {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
        )
        self.cached = {key: values[-1:] for key, values in grid.items()}
        return grid

    def _advance(self, first: int, last: int) -> Grid:
        """Generate the seconds ``first..last`` (inclusive): activity, price and basis paths."""
        k = last - first + 1
        rng = self.rng
        regimes = self._regimes(rng.random(k).tolist())
        seconds = np.arange(first, last + 1, dtype=np.int64)
        day_phase = (seconds % 86_400) / 86_400.0 - 15.0 / 24.0
        diurnal = 1.0 + _DIURNAL_AMPLITUDE * np.cos(2.0 * np.pi * day_phase)
        n_assets = len(self.vol)
        jitter = np.exp(rng.normal(-0.5 * _JITTER_SIGMA**2, _JITTER_SIGMA, (k, n_assets)))
        activity = _REGIME_NORMALIZED[regimes][:, None] * jitter  # (k, assets)
        intensity = self.rate * self.share[None, :] * diurnal[:, None] * activity[:, self.asset_of]
        shocks = rng.standard_normal((k, n_assets))
        returns = self.vol[None, :] * np.sqrt(activity) * shocks
        log_end = self.log_price[None, :] + np.cumsum(returns, axis=0)
        log_start = np.vstack([self.log_price[None, :], log_end[:-1]])
        self.log_price = log_end[-1].copy()
        basis_end = _ornstein_uhlenbeck(self.basis, rng.standard_normal((k, len(self.share))))
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

    def _regimes(self, draws: list[float]) -> np.ndarray:
        """The regime of each second, one uniform draw per second (a Markov chain: a plain loop)."""
        regimes = np.empty(len(draws), np.intp)
        regime = self.regime
        for index, draw in enumerate(draws):
            row = _REGIME_CUMULATIVE[regime]
            regime = next((state for state, bound in enumerate(row) if draw < bound), len(row) - 1)
            regimes[index] = regime
        self.regime = regime
        return regimes


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
