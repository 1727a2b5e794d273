"""The simulated markets: which symbols each exchange lists, under its own naming, with tick and lot sizes.

Every native name here is one the Silver materialized views (``ddl/clickhouse/02*.sql``) turn into a
canonical ``BASE/QUOTE``: Binance concatenates (``BTCUSDT``), Kraken uses ``XBT``/``XDG`` for
Bitcoin/Dogecoin (``XBT/USD``), Coinbase joins with a dash (``BTC-USD``). Prices and sizes are kept as
integers in units of 1e-8 (the scale of ``Decimal(18, 8)``), so nothing stored is ever a float.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Decimal scale of every price and quantity column (``Decimal(18, 8)``).
SCALE: int = 8
#: One unit of the last decimal place: values are stored as integers times ``1 / UNIT``.
UNIT: int = 10**SCALE

#: Kraken's own names for some assets (the Silver view maps them back).
_KRAKEN_ASSET: dict[str, str] = {"BTC": "XBT", "DOGE": "XDG"}
_KRAKEN_ASSET_BACK: dict[str, str] = {native: asset for asset, native in _KRAKEN_ASSET.items()}


@dataclass(frozen=True)
class Asset:
    """A traded base asset: its price level in USD and its volatility."""

    name: str
    usd_price: float
    annual_volatility: float


ASSETS: dict[str, Asset] = {
    asset.name: asset
    for asset in (
        Asset("BTC", 90_000.0, 0.55),
        Asset("ETH", 3_000.0, 0.70),
        Asset("SOL", 150.0, 0.90),
        Asset("DOGE", 0.15, 1.00),
    )
}

#: Value of one unit of each quote currency in USD (stablecoins trade a hair off par).
QUOTE_USD: dict[str, float] = {"USD": 1.0, "USDT": 1.0003, "USDC": 0.9999, "EUR": 1.08}


def native_symbol(exchange: str, base: str, quote: str) -> str:
    """Spell a market the exchange's way: ``BTCUSDT`` (Binance), ``XBT/USD`` (Kraken), ``BTC-USD``."""
    if exchange == "binance":
        return f"{base}{quote}"
    if exchange == "kraken":
        return f"{_KRAKEN_ASSET.get(base, base)}/{_KRAKEN_ASSET.get(quote, quote)}"
    if exchange == "coinbase":
        return f"{base}-{quote}"
    raise ValueError(f"unknown exchange {exchange!r}")


def canonical_symbol(exchange: str, native: str) -> str:
    """Map a native name to the canonical ``BASE/QUOTE`` exactly as the Silver view's SQL does."""
    if exchange == "binance":
        for quote in ("USDT", "USDC"):
            if native.endswith(quote):
                return f"{native[: -len(quote)]}/{quote}"
        return f"{native[:-3]}/{native[-3:]}"
    if exchange == "kraken":
        base, quote = native.split("/", 1)
        return f"{ {'XBT': 'BTC', 'XDG': 'DOGE'}.get(base, base) }/{quote}"
    if exchange == "coinbase":
        return native.replace("-", "/", 1)
    raise ValueError(f"unknown exchange {exchange!r}")


def _decimal_units(text: str) -> int:
    """Convert a decimal string such as ``"0.01"`` to an integer number of 1e-8 units."""
    whole, _, fraction = text.partition(".")
    if len(fraction) > SCALE:
        raise ValueError(f"{text} has more than {SCALE} decimals")
    return int(whole or "0") * UNIT + int((fraction or "0").ljust(SCALE, "0"))


@dataclass(frozen=True)
class Market:
    """One symbol on one exchange: native name, tick and lot size, and its share of the exchange's trades."""

    exchange: str
    base: str
    quote: str
    tick: str
    lot: str
    weight: float
    median_notional_usd: float = 400.0

    @property
    def symbol(self) -> str:
        """The native symbol, as the exchange spells it."""
        return native_symbol(self.exchange, self.base, self.quote)

    @property
    def canonical(self) -> str:
        """The canonical ``BASE/QUOTE`` symbol of Silver."""
        return f"{self.base}/{self.quote}"

    @property
    def tick_units(self) -> int:
        """Price increment in 1e-8 units."""
        return _decimal_units(self.tick)

    @property
    def lot_units(self) -> int:
        """Quantity increment in 1e-8 units."""
        return _decimal_units(self.lot)

    @property
    def asset(self) -> Asset:
        """The base asset."""
        return ASSETS[self.base]

    @property
    def reference_price(self) -> float:
        """The price level of the market in its quote currency (before the random walk)."""
        return self.asset.usd_price / QUOTE_USD[self.quote]


#: Share of all simulated trades that each exchange gets.
EXCHANGE_SHARE: dict[str, float] = {"binance": 0.55, "coinbase": 0.27, "kraken": 0.18}

#: The listed markets per exchange; ``weight`` is the share within the exchange (normalized on use).
MARKETS: dict[str, tuple[Market, ...]] = {
    "binance": (
        Market("binance", "BTC", "USDT", tick="0.01", lot="0.00001", weight=0.34),
        Market("binance", "ETH", "USDT", tick="0.01", lot="0.0001", weight=0.22),
        Market("binance", "SOL", "USDT", tick="0.01", lot="0.001", weight=0.14),
        Market("binance", "DOGE", "USDT", tick="0.00001", lot="1", weight=0.10, median_notional_usd=150.0),
        Market("binance", "BTC", "USDC", tick="0.01", lot="0.00001", weight=0.12),
        Market("binance", "ETH", "USDC", tick="0.01", lot="0.0001", weight=0.08),
    ),
    "kraken": (
        Market("kraken", "BTC", "USD", tick="0.1", lot="0.00000001", weight=0.36, median_notional_usd=700.0),
        Market("kraken", "ETH", "USD", tick="0.01", lot="0.00000001", weight=0.22, median_notional_usd=600.0),
        Market("kraken", "SOL", "USD", tick="0.01", lot="0.00000001", weight=0.14),
        Market("kraken", "DOGE", "USD", tick="0.0000001", lot="0.00000001", weight=0.10),
        Market("kraken", "BTC", "EUR", tick="0.1", lot="0.00000001", weight=0.18, median_notional_usd=600.0),
    ),
    "coinbase": (
        Market(
            "coinbase", "BTC", "USD", tick="0.01", lot="0.00000001", weight=0.40, median_notional_usd=500.0
        ),
        Market("coinbase", "ETH", "USD", tick="0.01", lot="0.00000001", weight=0.28),
        Market("coinbase", "SOL", "USD", tick="0.01", lot="0.001", weight=0.18),
        Market("coinbase", "DOGE", "USD", tick="0.00001", lot="0.1", weight=0.14, median_notional_usd=200.0),
    ),
}
