"""The federated plan: each table's committed ranges from cold, everything else from warm.

The user's SQL names logical tables by their registry names (``silver_trades``,
``gold_ohlcv_1h``, ``bronze_trades_binance``, …). Each one it mentions becomes a common table
expression of the same name, so the query itself is left untouched::

    WITH `silver_trades` AS (
        SELECT <columns cast to the warm types> FROM icebergLocal('<location>', SETTINGS
               iceberg_metadata_file_path = '<the catalog's current metadata file>')
        WHERE (trade_time >= <range 1 start> AND trade_time < <range 1 end>) OR (<range 2>) …
        UNION ALL
        SELECT <columns> FROM `default`.`silver_trades` FINAL
        WHERE NOT ((trade_time >= <range 1 start> AND trade_time < <range 1 end>) OR (<range 2>) …)
    )
    <the user's query>

* The ranges are the table's ledger of committed windows, **all** of them: a window that never
  made it to the cold tier (a gap) is read from the warm tier, and a committed range past a gap is
  read from the cold tier (its warm days may be dropped already).
* A row comes from one tier only: the cold side and the warm side have complementary time
  predicates, so a trade at exactly a range's end is read once (from the warm tier).
* The cold side reads the metadata file the ledger was read from, so data and ledger come
  from the same commit even while an offload commits concurrently.
* Gold tables are views in ClickHouse (no ``FINAL``); Bronze and Silver are ReplacingMergeTree
  tables read with ``FINAL``, so resent trades count once — as the offload copies them.
* A table with no committed window is all warm.

ClickHouse executes the query: on the server in server mode; in embedded mode in a child process
started in ``/`` (chDB reads local files only below its working directory) that opens the warm
chDB path through :class:`~coldtier_assets.resources.clickhouse.WarmTier` — so it takes the same
cross-process file lock as every other process — and sends the result back as an Arrow table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError

from coldtier_assets.federated.parse import ParsedQuery, parse_query
from coldtier_assets.offload.cold_engine import committed_table_function
from coldtier_assets.offload.sink import read_ledger
from coldtier_assets.offload.source import sql_time
from coldtier_assets.tables import TABLES_BY_NAME

# --------------------------------------------------------------------------------------------------
# The plan: what the catalog says about each table (made in the calling process)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColdSide:
    """The committed cold ranges of a table and how ClickHouse reads it."""

    table_function: str  # icebergLocal('…', SETTINGS iceberg_metadata_file_path = '…')
    ranges: tuple[tuple[str, str], ...]  # ISO 8601 [start, end) of every committed range
    columns: tuple[str, ...]  # the cold table's column names

    @property
    def watermark(self) -> str:
        """End of the first committed range (the table's watermark)."""
        return self.ranges[0][1]


@dataclass(frozen=True)
class TablePlan:
    """How one logical table is read: its time column and, once copied, its cold side."""

    name: str
    time_column: str
    cold: ColdSide | None


@dataclass(frozen=True)
class FederatedPlan:
    """Everything the executing process needs (pickled to the embedded child)."""

    query: ParsedQuery
    tables: tuple[TablePlan, ...]


def plan_table(catalog: Catalog, namespace: str, name: str) -> TablePlan:
    """Read one table's committed range from the catalog (all warm when nothing is committed)."""
    spec = TABLES_BY_NAME[name]
    try:
        table = catalog.load_table((namespace, name))
    except NoSuchTableError:
        return TablePlan(name, spec.time_column, None)
    ledger = read_ledger(table)
    if not ledger.ranges:
        return TablePlan(name, spec.time_column, None)
    cold = ColdSide(
        table_function=committed_table_function(table),
        ranges=tuple(
            (datetime.fromtimestamp(start, UTC).isoformat(), datetime.fromtimestamp(end, UTC).isoformat())
            for start, end in ledger.ranges
        ),
        columns=tuple(field.name for field in table.schema().fields),
    )
    return TablePlan(name, spec.time_column, cold)


def plan_query(catalog: Catalog, namespace: str, sql: str) -> FederatedPlan:
    """Parse the query and read the committed range of every registry table it mentions."""
    query = parse_query(sql)
    return FederatedPlan(query, tuple(plan_table(catalog, namespace, name) for name in query.tables))


# --------------------------------------------------------------------------------------------------
# Building and running the SQL (in the process that holds the warm session)
# --------------------------------------------------------------------------------------------------


def _quote(identifier: str) -> str:
    return "`" + identifier.replace("\\", "\\\\").replace("`", "\\`") + "`"


@dataclass(frozen=True)
class WarmTable:
    """A ClickHouse table or view as seen by the executing session."""

    database: str
    columns: Mapping[str, str]  # name → ClickHouse type, in table order
    final: bool  # ReplacingMergeTree: read with FINAL


def _committed_predicate(time: str, ranges: Sequence[tuple[str, str]]) -> str:
    """True for a time inside one of the committed ranges (false, never NULL, for a non-NULL time)."""
    terms = [
        f"({time} >= {sql_time(datetime.fromisoformat(start))} AND {time} < {sql_time(datetime.fromisoformat(end))})"
        for start, end in ranges
    ]
    return " OR ".join(terms)


def table_cte(plan: TablePlan, warm: WarmTable) -> str:
    """The common table expression that stands for one logical table."""
    time = _quote(plan.time_column)
    source = f"{_quote(warm.database)}.{_quote(plan.name)}" + (" FINAL" if warm.final else "")
    if plan.cold is None:
        body = f"SELECT {', '.join(_quote(name) for name in warm.columns)} FROM {source}"
        return f"{_quote(plan.name)} AS (\n    {body}\n)"
    committed = _committed_predicate(time, plan.cold.ranges)
    cold_columns, warm_columns = [], []
    for name, ch_type in warm.columns.items():
        if name in plan.cold.columns:  # cold types differ (String vs LowCardinality, precision…)
            cold_columns.append(f"CAST({_quote(name)} AS {ch_type}) AS {_quote(name)}")
            warm_columns.append(_quote(name))
        else:  # a column ClickHouse has and the cold table not (yet): NULL in the committed ranges
            cold_columns.append(f"NULL AS {_quote(name)}")
            warm_columns.append(f"toNullable({_quote(name)}) AS {_quote(name)}")
    cold_sql = f"SELECT {', '.join(cold_columns)} FROM {plan.cold.table_function} WHERE {committed}"
    warm_sql = f"SELECT {', '.join(warm_columns)} FROM {source} WHERE NOT ({committed})"
    return f"{_quote(plan.name)} AS (\n    {cold_sql}\n    UNION ALL\n    {warm_sql}\n)"


def compose_sql(query: ParsedQuery, ctes: Sequence[str]) -> str:
    """The user's query with the logical tables defined in front of it."""
    if not ctes:
        return query.sql
    definitions = ",\n".join(ctes)
    if query.form == "with":
        return f"{query.sql[: query.with_end]}\n{definitions},\n{query.sql[query.with_end :]}"
    if query.form == "nested":
        return f"WITH\n{definitions}\nSELECT * FROM (\n{query.sql}\n)"
    return f"WITH\n{definitions}\n{query.sql}"
