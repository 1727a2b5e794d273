"""Data-quality checks of the cold tier beyond warm-cold consistency (Dagster-free).

* duplicate natural keys in a cold table's windows;
* cold and warm schemas against the DDL;
* Gold candles re-derived from **cold** Silver (with the Gold view's own SQL from ``ddl/``)
  against cold Gold, window by window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from coldtier_assets.config import Settings
from coldtier_assets.ddl import DDL_DIR, render
from coldtier_assets.errors import ColdtierError
from coldtier_assets.offload.bootstrap import check_cold_schema
from coldtier_assets.offload.cold_engine import committed_table_function
from coldtier_assets.offload.source import check_source, extra_source_columns, sql_time
from coldtier_assets.offload.verify import by_window, checksum_query
from coldtier_assets.offload.windows import Window
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.tables import TableSpec, get_table


def duplicate_key_sql(table: Table, spec: TableSpec, span: Window) -> str:
    """SQL counting rows in ``span`` of the cold table beyond the first per natural key."""
    keys = ", ".join(f"`{column}`" for column in spec.natural_key)
    column = f"`{spec.time_column}`"
    return (
        f"SELECT count() - uniqExact({keys}) FROM {committed_table_function(table)} "
        f"WHERE {column} >= {sql_time(span.start)} AND {column} < {sql_time(span.end)}"
    )


def schema_problems(warm: WarmTier, table: Table, spec: TableSpec) -> list[str]:
    """Differences between the DDL and the cold table, and between the DDL and the warm source.

    A ClickHouse column the cold table lacks is a problem too: it would be silently left out.
    """
    problems = []
    for check in (lambda: check_cold_schema(table, spec), lambda: check_source(warm, spec, table.schema())):
        try:
            check()
        except ColdtierError as error:
            problems.append(str(error))
    try:
        problems += extra_source_columns(warm, spec, table.schema())
    except ColdtierError as error:  # the table is missing: check_source has said so already
        if not problems:
            problems.append(str(error))
    return problems


def derived_candles_sql(spec: TableSpec, silver_source: str) -> str:
    """The Gold view's SELECT from ``ddl/clickhouse`` with Silver replaced by ``silver_source``."""
    template = next((DDL_DIR / "clickhouse").glob("*gold_ohlcv.sql.tmpl")).read_text()
    view = render(template, spec.template_vars)
    select = re.search(r"\bAS\s+(SELECT\b.*?);?\s*$", view, re.DOTALL | re.IGNORECASE)
    if not select:
        raise ColdtierError("cannot find the SELECT of the Gold view template")
    return select.group(1).replace("FROM silver_trades FINAL", f"FROM {silver_source}")


@dataclass(frozen=True)
class CandleComparison:
    """Per window: (rows, checksum) of candles derived from cold Silver vs. cold Gold."""

    window: Window
    derived: tuple[int, int]
    cold: tuple[int, int]

    @property
    def ok(self) -> bool:
        """True when the derived candles equal the cold Gold rows."""
        return self.derived == self.cold


def silver_span_sql(silver_function: str, gold: TableSpec, windows: list[Window]) -> str:
    """Cold Silver restricted to the trades of the candles starting in ``windows`` (a subquery).

    Without the restriction ClickHouse aggregates every candle of the whole table before keeping the
    windows' ones: the check would read all of cold Silver, every run, for ever. A candle starting
    in the span holds trades from its start to one candle length later, so the span's end is rounded
    up to a candle boundary (windows are whole candles, but the base window need not be a multiple).
    """
    silver = get_table("silver_trades")
    column = f"`{silver.time_column}`"
    seconds = gold.candle_seconds
    end = windows[-1].end
    overhang = (-int(end.timestamp())) % seconds if seconds else 0
    return (
        f"(SELECT * FROM {silver_function} WHERE {column} >= {sql_time(windows[0].start)} "
        f"AND {column} < {sql_time(end + timedelta(seconds=overhang))})"
    )


def candle_sqls(
    settings: Settings, catalog: Catalog, gold: TableSpec, windows: list[Window]
) -> tuple[str, str, int]:
    """SQL for per-window (rows, checksum) of candles derived from cold Silver, and of cold Gold.

    Only the Silver trades of the windows' candles are read (:func:`silver_span_sql`).
    """
    gold_table = catalog.load_table((settings.namespace, gold.name))
    silver = catalog.load_table((settings.namespace, get_table("silver_trades").name))
    silver_source = silver_span_sql(committed_table_function(silver), gold, windows)
    derived_source = f"({derived_candles_sql(gold, silver_source)})"
    derived_sql, length = checksum_query(gold_table.schema(), gold, derived_source, windows)
    cold_sql, _ = checksum_query(gold_table.schema(), gold, committed_table_function(gold_table), windows)
    return derived_sql, cold_sql, length


def candle_comparisons(
    windows: list[Window], derived_rows: list[list[object]], cold_figures: list[list[object]], length: int
) -> list[CandleComparison]:
    """Pair up the derived and the cold figures per window."""
    derived, cold = by_window(derived_rows, windows, length), by_window(cold_figures, windows, length)
    return [CandleComparison(window, derived[window], cold[window]) for window in windows]
