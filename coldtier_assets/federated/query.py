"""Federated SQL over both tiers: each table's committed ranges from cold, everything else from warm.

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
cross-process file lock as every other process — and returns the result as an Arrow IPC file.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_connect.driver.client import Client
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError

from coldtier_assets.config import Settings
from coldtier_assets.errors import ColdtierError, error_type
from coldtier_assets.federated.readonly import (
    READONLY_SETTINGS,
    refuse_outfile,
    refuse_table_functions,
)
from coldtier_assets.offload.cold_engine import committed_table_function
from coldtier_assets.offload.sink import read_ledger
from coldtier_assets.offload.source import sql_time
from coldtier_assets.redact import redact
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.tables import TABLES_BY_NAME


class FederatedQueryError(ColdtierError):
    """A federated query was refused or failed; the message says why in terms of the user's SQL."""


class UnknownTableError(FederatedQueryError):
    """The query names a table that neither the registry nor ClickHouse knows."""


# --------------------------------------------------------------------------------------------------
# Reading the user's SQL: statement kind, referenced registry tables (strings and comments skipped)
# --------------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
  | (?P<string>'(?:[^'\\]|\\.|'')*(?:'|\Z))
  | (?P<quoted>`(?:[^`\\]|\\.|``)*(?:`|\Z)|"(?:[^"\\]|\\.|"")*(?:"|\Z))
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    start: int

    @property
    def identifier(self) -> str | None:
        """The identifier this token names (quotes removed), or None."""
        if self.kind == "word":
            return self.text
        if self.kind == "quoted" and len(self.text) >= 2:
            return self.text[1:-1]
        return None


def _tokens(sql: str) -> list[_Token]:
    """Significant tokens (no whitespace, no comments)."""
    tokens = []
    for match in _TOKEN.finditer(sql):
        kind = match.lastgroup or "other"
        if kind not in ("space", "comment"):
            tokens.append(_Token(kind, match.group(), match.start()))
    return tokens


@dataclass(frozen=True)
class ParsedQuery:
    """The user's single SELECT statement and the registry tables it mentions."""

    sql: str
    tables: tuple[str, ...]
    form: str  # "select": starts with SELECT; "with": starts with WITH; "nested": starts with "("
    with_end: int = 0  # for "with": offset just after WITH [RECURSIVE]


def parse_query(sql: str) -> ParsedQuery:
    """Check that ``sql`` is one SELECT statement and find the registry tables it mentions.

    A table mention is an (optionally quoted) identifier equal to a registry name that is not
    qualified by a database (``default.silver_trades`` reads the plain warm table).
    """
    tokens = _tokens(sql)
    if not tokens:
        raise FederatedQueryError("the query is empty")
    for index, token in enumerate(tokens):
        if token.text == ";":
            if any(other.text != ";" for other in tokens[index:]):
                raise FederatedQueryError("give one SELECT statement (the query holds several)")
            sql, tokens = sql[: token.start], tokens[:index]
            break
    if not tokens:
        raise FederatedQueryError("the query is empty")
    first = tokens[0]
    keyword = first.text.upper() if first.kind == "word" else first.text
    if keyword not in ("SELECT", "WITH", "("):
        raise FederatedQueryError(
            f"only SELECT queries can be federated (the query starts with {first.text!r}): it is read-only"
        )
    refuse_outfile(tokens)
    tables: list[str] = []
    for index, token in enumerate(tokens):
        name = token.identifier
        qualified = index > 0 and tokens[index - 1].text == "."
        if name in TABLES_BY_NAME and not qualified and name not in tables:
            tables.append(name)
    if keyword == "WITH":
        end = first.start + len(first.text)
        if len(tokens) > 1 and tokens[1].kind == "word" and tokens[1].text.upper() == "RECURSIVE":
            end = tokens[1].start + len(tokens[1].text)
        return ParsedQuery(sql, tuple(tables), "with", end)
    return ParsedQuery(sql, tuple(tables), "select" if keyword == "SELECT" else "nested")


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
    """Everything the executing process needs; JSON-serializable for the embedded child."""

    query: ParsedQuery
    tables: tuple[TablePlan, ...]

    def to_json(self) -> str:
        """Serialize for the child process."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> FederatedPlan:
        """Inverse of :meth:`to_json`."""
        raw = json.loads(text)
        query = raw["query"]
        return cls(
            ParsedQuery(query["sql"], tuple(query["tables"]), query["form"], query["with_end"]),
            tuple(
                TablePlan(
                    table["name"],
                    table["time_column"],
                    ColdSide(
                        table["cold"]["table_function"],
                        tuple((start, end) for start, end in table["cold"]["ranges"]),
                        tuple(table["cold"]["columns"]),
                    )
                    if table["cold"]
                    else None,
                )
                for table in raw["tables"]
            ),
        )


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


_CLICKHOUSE_ERROR = re.compile(r"Code: (\d+)\. DB::Exception: (.*)", re.DOTALL)
_ERROR_NAME = re.compile(r"\(([A-Z_]+)\)\s*(?:\(version [^)]*\))?\s*\.?\s*$")
_UNKNOWN_TABLE = re.compile(r"identifier '([^']+)'|Table (\S+) does not exist")
SYNTAX_ERROR, UNKNOWN_TABLE, UNKNOWN_DATABASE = 62, 60, 81


def _clickhouse_error(error: Exception) -> tuple[int, str, str]:
    """(code, short message, code name) of a ClickHouse exception message (0 when not one)."""
    text = str(error)
    matches = list(_CLICKHOUSE_ERROR.finditer(text))
    if not matches:
        return 0, redact(text.strip()), ""
    code = int(matches[-1].group(1))
    message = matches[-1].group(2).strip()
    name_match = _ERROR_NAME.search(message)
    name = name_match.group(1) if name_match else ""
    message = _ERROR_NAME.sub("", message).strip()
    message = re.split(r"\.? In scope |\. Stack trace", message, maxsplit=1)[0].strip()
    message = re.split(r"\.? Expected one of:", message, maxsplit=1)[0].strip()
    message = re.sub(r"\s*Maybe you meant [^?]*\?", "", message).strip()
    return code, redact(message.rstrip(".")), name


def _raise_for(error: Exception, *, syntax_check: bool) -> None:
    code, message, name = _clickhouse_error(error)
    if code == SYNTAX_ERROR:
        message = message.removeprefix("Syntax error: ").rstrip(":. ")
        raise FederatedQueryError(f"syntax error in the query: {message}") from None
    if code == UNKNOWN_DATABASE:
        raise UnknownTableError(f"{message} (federated tables are named without a database)") from None
    if code == UNKNOWN_TABLE:
        match = _UNKNOWN_TABLE.search(message)
        table = next((group for group in match.groups() if group), "?") if match else "?"
        close = difflib.get_close_matches(table.rsplit(".", 1)[-1], list(TABLES_BY_NAME), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UnknownTableError(
            f"unknown table {table!r}{hint}. Federated tables: {', '.join(TABLES_BY_NAME)} "
            "(other ClickHouse tables are read as database.table)"
        ) from None
    if code:
        raise FederatedQueryError(f"ClickHouse rejected the query: {message} ({name or code})") from None
    what = "check the query" if syntax_check else "run the query"
    raise FederatedQueryError(f"could not {what}: {message}") from None


def _warm_tables(client: Client, names: Sequence[str]) -> dict[str, WarmTable]:
    database = str(client.query("SELECT currentDatabase()").result_rows[0][0])
    engines = {
        str(name): str(engine)
        for name, engine in client.query(
            "SELECT name, engine FROM system.tables WHERE database = currentDatabase() AND name IN {n:Array(String)}",
            parameters={"n": list(names)},
        ).result_rows
    }
    columns: dict[str, dict[str, str]] = {name: {} for name in names}
    for table, column, ch_type in client.query(
        "SELECT table, name, type FROM system.columns WHERE database = currentDatabase() "
        "AND table IN {n:Array(String)} ORDER BY table, position",
        parameters={"n": list(names)},
    ).result_rows:
        columns[str(table)][str(column)] = str(ch_type)
    missing = [name for name in names if name not in engines or not columns[name]]
    if missing:
        raise FederatedQueryError(
            f"ClickHouse table(s) {', '.join(missing)} do not exist in database {database!r} "
            "(run `coldtier init`?)"
        )
    return {name: WarmTable(database, columns[name], "ReplacingMergeTree" in engines[name]) for name in names}


def execute_plan(warm: WarmTier, plan: FederatedPlan) -> pa.Table:
    """Run a planned query in one warm session (server mode, or inside the embedded child).

    The user's SQL is checked to be read-only first; the composed query runs with ``readonly=2``
    unless the session was opened by the caller (the setting would stay on for the caller's work).
    """
    own_session = getattr(warm._local, "client", None) is None
    with warm.session() as client:
        try:  # parse the user's own text first, so positions in a syntax error are theirs
            client.query("SELECT formatQuery({q:String})", parameters={"q": plan.query.sql})
        except Exception as error:
            _raise_for(error, syntax_check=True)
        functions = [
            str(row[0]) for row in client.query("SELECT name FROM system.table_functions").result_rows
        ]
        refuse_table_functions(_tokens(plan.query.sql), functions)
        names = [table.name for table in plan.tables]
        warm_tables = _warm_tables(client, names) if names else {}
        sql = compose_sql(plan.query, [table_cte(table, warm_tables[table.name]) for table in plan.tables])
        try:
            result = client.query_arrow(sql, settings=READONLY_SETTINGS if own_session else None)
            if not any(pa.types.is_uint32(field.type) for field in result.schema):
                return result
            types = [str(row[1]) for row in client.query(f"DESCRIBE ({sql})").result_rows]
            zone = str(client.query("SELECT timezone()").result_rows[0][0])
        except Exception as error:
            _raise_for(error, syntax_check=False)
            raise  # unreachable: _raise_for always raises
    return with_timestamps(result, types, zone)


_DATETIME = re.compile(r"^(?:Nullable\(|LowCardinality\()*DateTime(?:\('([^']*)'\))?\)*$")


def with_timestamps(result: pa.Table, types: Sequence[str], default_zone: str) -> pa.Table:
    """ClickHouse writes ``DateTime`` columns to Arrow as uint32 seconds: make them timestamps."""
    if len(types) != result.num_columns:
        return result
    columns = list(result.columns)
    fields = list(result.schema)
    for index, ch_type in enumerate(types):
        match = _DATETIME.match(ch_type)
        if match and pa.types.is_unsigned_integer(fields[index].type):
            target = pa.timestamp("s", tz=match.group(1) or default_zone)
            columns[index] = pc.cast(pc.cast(columns[index], pa.int64()), target)
            fields[index] = pa.field(fields[index].name, target, nullable=fields[index].nullable)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


# --------------------------------------------------------------------------------------------------
# The entry point, and the embedded child process
# --------------------------------------------------------------------------------------------------

_ERROR_SUFFIX = ".error.json"


def federated_query(
    settings: Settings, warm: WarmTier, catalog: Catalog, sql: str, *, timeout_seconds: float | None = None
) -> pa.Table:
    """Run ``sql`` over warm + cold (each table's committed ranges cold, the rest warm) as Arrow.

    Raises :class:`FederatedQueryError` (or :class:`UnknownTableError`) with a message about the
    user's SQL for anything ClickHouse or the planner rejects.
    """
    plan = plan_query(catalog, settings.namespace, sql)
    if not warm.embedded:
        return execute_plan(warm, plan)
    if getattr(warm._local, "client", None) is not None:  # the child would wait for our own lock
        raise FederatedQueryError("federated_query cannot run inside an open embedded warm session")
    return _run_in_child(warm, plan, timeout_seconds)


def _run_in_child(warm: WarmTier, plan: FederatedPlan, timeout_seconds: float | None) -> pa.Table:
    package_root = str(Path(__file__).resolve().parents[2])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
    }
    with tempfile.TemporaryDirectory(prefix="coldtier-federated-") as scratch:
        plan_path, result_path = Path(scratch, "plan.json"), Path(scratch, "result.arrow")
        plan_path.write_text(plan.to_json())
        command = [
            sys.executable,
            "-m",
            "coldtier_assets.federated.query",
            warm.dsn,
            str(warm.lock_timeout_seconds),
            str(plan_path),
            str(result_path),
        ]
        try:
            completed = subprocess.run(
                command,
                cwd="/",
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout_seconds,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise FederatedQueryError(f"the federated query ran longer than {timeout_seconds} s") from None
        error_path = Path(str(result_path) + _ERROR_SUFFIX)
        if error_path.exists():
            error = json.loads(error_path.read_text())
            raise error_type(error["type"], FederatedQueryError)(error["message"])
        if completed.returncode != 0 or not result_path.exists():
            lines = completed.stderr.strip().splitlines()
            raise FederatedQueryError(
                f"the federated query process failed (exit {completed.returncode}): "
                f"{lines[-1] if lines else 'no output'}"
            )
        with pa.OSFile(str(result_path), "rb") as source:  # read into memory: the file goes away
            return pa.ipc.open_file(source).read_all()


def _child_main(argv: Sequence[str]) -> int:
    """Embedded mode, in a process whose working directory is ``/``: run the plan, write Arrow."""
    dsn, lock_timeout, plan_path, result_path = argv
    error_path = Path(result_path + _ERROR_SUFFIX)
    try:
        plan = FederatedPlan.from_json(Path(plan_path).read_text())
        result = execute_plan(WarmTier(dsn, lock_timeout_seconds=float(lock_timeout)), plan)
    except ColdtierError as error:  # reported to the parent, which raises the same type
        error_path.write_text(json.dumps({"type": type(error).__name__, "message": str(error)}))
        return 3
    with pa.OSFile(result_path, "wb") as sink, pa.ipc.new_file(sink, result.schema) as writer:
        writer.write_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
