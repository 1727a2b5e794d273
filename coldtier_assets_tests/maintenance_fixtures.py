"""Helpers for the maintenance and retention tests: a fed embedded coldtier and late trades."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table

from coldtier_assets.config import Settings, load_settings
from coldtier_assets.offload.bootstrap import init_all
from coldtier_assets.offload.pipeline import Offloader
from coldtier_assets.offload.sink import COMMIT_ID_KEY, LEDGER_KEY, PREFIX, read_ledger, window_filter
from coldtier_assets.offload.source import sql_time
from coldtier_assets.offload.windows import Window, split_windows
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.resources.iceberg import open_catalog
from coldtier_assets.tables import TableSpec, get_table
from coldtier_assets_tests.fixtures import DAY

BINANCE = get_table("bronze_trades_binance")
M15 = timedelta(minutes=15)
#: Two hours of trades: eight 15-minute windows, each copied as its own small file.
FEED_START = DAY + timedelta(hours=21)
FEED_END = FEED_START + timedelta(hours=2)


@dataclass
class Coldtier:
    """An initialized embedded coldtier (chDB warm tier, SQLite or PostgreSQL catalog)."""

    settings: Settings
    warm: WarmTier
    catalog: SqlCatalog

    def offloader(self) -> Offloader:
        """The offload core on this coldtier (a fresh catalog per call, as the Dagster resource does)."""
        return Offloader(self.settings, self.warm, lambda: open_catalog(self.settings))

    def table(self, spec: TableSpec = BINANCE) -> Table:
        """A freshly loaded cold table."""
        return self.catalog.load_table((self.settings.namespace, spec.name))

    @property
    def identifier(self) -> tuple[str, str]:
        """The catalog identifier of the Binance Bronze cold table."""
        return (self.settings.namespace, BINANCE.name)


def make_coldtier(coldtier_env: dict[str, str]) -> Coldtier:
    """Init warm and cold tables under the environment (after any catalog_backend override)."""
    settings = load_settings(coldtier_env)
    warm = WarmTier(settings.warm_dsn)
    catalog = open_catalog(settings)
    init_all(warm, catalog, settings.namespace)
    return Coldtier(settings, warm, catalog)


def commit_the_old_way(env: Coldtier, spec: TableSpec, window: Window) -> None:
    """Commit ``window`` as the previous version did: ledger only in the snapshot summary, no property.

    The window's rows are re-committed from the cold table itself (delete + append in one commit),
    and the property is removed in the same commit, so the table looks exactly like one written by
    the old version: the newest coldtier summary carries the whole ledger.
    """
    table = env.table(spec)
    ledger = read_ledger(table).add(window)
    rows = table.scan(row_filter=window_filter(spec.time_column, window)).to_arrow()
    properties = {
        PREFIX + "window-start": window.start.isoformat(),
        PREFIX + "window-end": window.end.isoformat(),
        COMMIT_ID_KEY: "old-version",
        LEDGER_KEY: ledger.encode(),
    }
    with table.transaction() as transaction:
        if LEDGER_KEY in table.metadata.properties:
            transaction.remove_properties(LEDGER_KEY)
        transaction.overwrite(
            rows, overwrite_filter=window_filter(spec.time_column, window), snapshot_properties=properties
        )


def feed_windows(start: datetime = FEED_START, end: datetime = FEED_END) -> list[Window]:
    """The 15-minute windows of [start, end)."""
    return split_windows(start, end, M15)


def add_late_trades(warm: WarmTier, spec: TableSpec, window: Window, count: int = 3) -> int:
    """Insert ``count`` new trades (copies of existing ones with fresh ids) into a Bronze window."""
    column = f"`{spec.time_column}`"
    columns = [name for name in warm.columns(spec.name) if name != "ingested_at"]
    select = ", ".join(f"`{c}` + 900000000" if c == "trade_id" else f"`{c}`" for c in columns)
    before = _count(warm, spec, window)
    warm.command(
        f"INSERT INTO `{spec.name}` ({', '.join(f'`{c}`' for c in columns)}) SELECT {select} FROM `{spec.name}` "
        f"WHERE {column} >= {sql_time(window.start)} AND {column} < {sql_time(window.end)} "
        f"ORDER BY {column} LIMIT {count}"
    )
    return _count(warm, spec, window) - before


def _count(warm: WarmTier, spec: TableSpec, window: Window) -> int:
    column = f"`{spec.time_column}`"
    rows = warm.rows(
        f"SELECT count() FROM `{spec.name}` FINAL WHERE {column} >= {sql_time(window.start)} "
        f"AND {column} < {sql_time(window.end)}"
    )
    return int(str(rows[0][0]))


class CatalogProxy:
    """A catalog that runs ``action`` once, right after the ``nth`` ``load_table`` call returned its table."""

    def __init__(self, catalog: Catalog, nth: int, action: Any) -> None:
        self._catalog = catalog
        self._nth = nth
        self._action = action
        self.calls = 0

    def load_table(self, identifier: Any) -> Table:
        """Load the table; on the nth call, run the action after loading (so the table is stale)."""
        table = self._catalog.load_table(identifier)
        self.calls += 1
        if self.calls == self._nth:
            self._action()
        return table

    def __getattr__(self, name: str) -> Any:
        return getattr(self._catalog, name)
