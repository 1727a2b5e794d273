"""Trades the harness writes itself: invalid trades (quarantined) and late trades (healed).

Ids start far above the simulator's, so they never collide with generated trades; both kinds are
written through :class:`WarmTier` like any feed (the embedded chDB lock is respected).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime

from coldtier_assets.resources.clickhouse import WarmTier

#: Ids of harness-written trades: invalid ones from here, late ones from LATE_ID_BASE.
BAD_ID_BASE = 8_000_000_000
LATE_ID_BASE = 8_500_000_000


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


#: (exchange, template of one VALUES tuple) of invalid trades; {t} trade time, {i} ingest time, {id} id.
_BAD: tuple[tuple[str, str], ...] = (
    ("binance", "('{t}', 'BTCUSDT', {id}, 0, 1, '{t}', 1, '{i}')"),  # price <= 0
    ("binance", "('{t}', 'ETHUSDT', {id}, 3000, 0, '{t}', 0, '{i}')"),  # quantity <= 0
    ("binance", "('{t}', '', {id}, 90000, 1, '{t}', 0, '{i}')"),  # empty symbol
    ("kraken", "('XBT/USD', 90000, 1, '{t}', NULL, 'm', '', {id}, '{i}')"),  # side missing
    ("kraken", "('XBT/USD', 90000, 0, '{t}', 's', 'l', '', {id}, '{i}')"),  # quantity <= 0
    ("coinbase", "({id}, 'BTC-USD', -1, 1, 'sell', '{t}', '{i}')"),  # price <= 0
    ("coinbase", "({id}, NULL, 90000, 1, 'buy', '{t}', '{i}')"),  # symbol missing
)

INSERT_PREFIX: dict[str, str] = {
    "binance": "INSERT INTO bronze_trades_binance (event_time, symbol, trade_id, price, quantity, trade_time, "
    "is_buyer_maker, ingested_at) VALUES ",
    "kraken": "INSERT INTO bronze_trades_kraken (pair, price, volume, time, side, order_type, misc, trade_id, "
    "ingested_at) VALUES ",
    "coinbase": "INSERT INTO bronze_trades_coinbase (trade_id, product_id, price, size, side, time, ingested_at) "
    "VALUES ",
}


class BadTrades:
    """Writes one invalid trade of each kind in turn, with the current time."""

    def __init__(self, warm: WarmTier) -> None:
        self.warm = warm
        self.written = 0
        self._kinds = itertools.cycle(_BAD)

    def write(self, now: datetime) -> None:
        """Insert the next invalid trade, at trade time ``now``."""
        exchange, template = next(self._kinds)
        values = template.format(t=_ts(now), i=_ts(now), id=BAD_ID_BASE + self.written + 1)
        self.warm.command(INSERT_PREFIX[exchange] + values)
        self.written += 1


@dataclass(frozen=True)
class LateTrade:
    """A valid trade written after its window was copied: the healing sensor must re-copy it."""

    exchange: str
    symbol: str
    trade_id: int
    trade_time: datetime
    inserted_at: datetime


def write_late_trade(warm: WarmTier, number: int, trade_time: datetime, now: datetime) -> LateTrade:
    """Insert a valid Binance BTCUSDT trade at ``trade_time`` (a copied window), ingested ``now``."""
    trade_id = LATE_ID_BASE + number
    price = f"{90000 + number % 97}.125"
    values = f"('{_ts(now)}', 'BTCUSDT', {trade_id}, {price}, 0.01, '{_ts(trade_time)}', 0, '{_ts(now)}')"
    warm.command(INSERT_PREFIX["binance"] + values)
    return LateTrade("binance", "BTCUSDT", trade_id, trade_time, now)
