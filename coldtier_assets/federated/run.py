"""Running a federated plan: on the ClickHouse server, or in embedded mode in a child process.

The child (an :class:`~coldtier_assets.resources.child_process.IsolatedChild`) is started in ``/``
(chDB reads local files only below its working directory), opens the warm chDB path through
:class:`~coldtier_assets.resources.clickhouse.WarmTier` (so it takes the same cross-process file
lock as every other process) and sends the result back as an Arrow table.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_connect.driver.client import Client
from pyiceberg.catalog import Catalog

from coldtier_assets.config import Settings
from coldtier_assets.errors import ColdtierError
from coldtier_assets.federated.parse import FederatedQueryError, UnknownTableError, significant_tokens
from coldtier_assets.federated.plan import FederatedPlan, WarmTable, compose_sql, plan_query, table_cte
from coldtier_assets.federated.readonly import (
    READONLY_SETTINGS,
    refuse_table_functions,
)
from coldtier_assets.redact import redact
from coldtier_assets.resources.child_process import ChildExitedError, ChildTimeoutError, IsolatedChild
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.tables import TABLES_BY_NAME

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
        refuse_table_functions(significant_tokens(plan.query.sql), functions)
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
    child = IsolatedChild("the federated query process", cwd="/", fallback=FederatedQueryError)
    try:
        with child:
            return child.call(
                _execute_in_child, warm.dsn, warm.lock_timeout_seconds, plan, timeout=timeout_seconds
            )
    except ChildTimeoutError:
        raise FederatedQueryError(f"the federated query ran longer than {timeout_seconds} s") from None
    except ChildExitedError as error:  # killed or crashed: "the federated query process exited (…)"
        raise FederatedQueryError(str(error)) from None


def _execute_in_child(dsn: str, lock_timeout_seconds: float, plan: FederatedPlan) -> pa.Table:
    """Embedded mode, in the child whose working directory is ``/``: run the plan."""
    try:
        return execute_plan(WarmTier(dsn, lock_timeout_seconds=lock_timeout_seconds), plan)
    except ColdtierError:
        raise
    except Exception as error:  # anything unexpected still names the process that failed
        raise FederatedQueryError(f"the federated query process failed: {error}") from None
