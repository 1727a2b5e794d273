"""ClickHouse over the cold tier: run SQL that reads Iceberg tables with ClickHouse's table functions.

* Embedded (chDB): chDB only reads local files below its working directory, so cold queries run in
  a worker child process with its own in-memory chDB started in ``/`` — independent of the warm
  tier's engine and its lock (warm tables are not visible there). The worker is reused by every
  query of the process and exits after a minute without work.
* Server (HTTP): the query runs on the ClickHouse server, which reads the warehouse itself
  (``icebergS3`` for ``s3://`` warehouses, ``icebergLocal`` for a path on the server; see
  :mod:`~coldtier_assets.offload.cold_location`).
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from coldtier_assets.errors import ColdtierError
from coldtier_assets.offload.cold_location import iceberg_table_function, store_scheme
from coldtier_assets.redact import redact
from coldtier_assets.resources.child_process import ChildExitedError, IsolatedChild

if TYPE_CHECKING:  # types only: the worker child imports this module, and should start fast
    from pyiceberg.table import Table

    from coldtier_assets.config import Settings
    from coldtier_assets.resources.clickhouse import WarmTier


class ColdQueryError(ColdtierError):
    """ClickHouse could not read the cold tier (missing metadata, unreachable object store…)."""


def relative_metadata_path(location: str, metadata_location: str) -> str:
    """The metadata file's path relative to the table location, as ClickHouse's setting expects it.

    Spark (Iceberg-Java) writes ``file:/path`` where pyiceberg writes ``file:///path``, so the two
    are compared as parsed URIs, not as strings.
    """
    table, metadata = urlparse(location), urlparse(metadata_location)
    same_store = (store_scheme(table.scheme), table.netloc) == (
        store_scheme(metadata.scheme),
        metadata.netloc,
    )
    prefix = table.path.rstrip("/") + "/"
    if same_store and metadata.path.startswith(prefix):
        return metadata.path[len(prefix) :]
    return metadata_location


def committed_table_function(table: Table) -> str:
    """The table function pinned to the metadata file the catalog points to (the committed state).

    Unpinned, ClickHouse reads the newest ``*.metadata.json`` in the folder, which may be a file a
    losing or unknown-outcome commit left behind; every cold read goes through this function.
    """
    function = iceberg_table_function(table.location())
    metadata = relative_metadata_path(table.location(), table.metadata_location)
    metadata = metadata.replace("\\", "\\\\").replace("'", "\\'")
    return f"{function[:-1]}, SETTINGS iceberg_metadata_file_path = '{metadata}')"


def _run_batch(sqls: list[str]) -> list[list[list[object]]]:
    """In the worker: run the queries on a fresh in-memory chDB connection; rows of each.

    A fresh connection per batch means nothing (no cached Iceberg metadata, no state left by a
    failed query) carries over from one batch to the next; importing chDB happens once.
    """
    import json

    import chdb

    try:
        connection = chdb.connect(":memory:")
        try:
            results = [connection.query(sql, "JSONCompact").data() for sql in sqls]
        finally:
            connection.close()
    except Exception as error:
        text = str(error).strip()
        raise ColdQueryError(
            redact(f"cold-tier query failed: {text.splitlines()[-1] if text else repr(error)}")
        ) from None
    return [json.loads(result)["data"] for result in results]


class ColdQueryWorker:
    """A long-lived child process with an in-memory chDB started in ``/``, serving cold queries.

    Starting chDB costs about 0.4 s, so one worker serves every check of a run (Dagster's in-process
    executor runs all steps in one process). It is started on first use, restarted if it died, and
    exits by itself after ``idle_seconds`` without work, so long-lived processes hold no engine.
    """

    def __init__(self, idle_seconds: float = 60.0) -> None:
        self.idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._child: IsolatedChild | None = None
        self._owner = os.getpid()

    def query(self, sqls: list[str]) -> list[list[list[object]]]:
        """Rows of each query, run in order in the worker; raises :class:`ColdQueryError` on failure."""
        with self._lock:
            for _attempt in (1, 2):  # a worker that idled out between poll and write gets one restart
                try:
                    return self._running().call(_run_batch, sqls)
                except ChildExitedError:
                    self._stop()
            raise ColdQueryError("cold-tier query failed: the chDB worker process exited")

    def close(self) -> None:
        """Stop the worker (it is restarted on the next query)."""
        with self._lock:
            self._stop()

    def _running(self) -> IsolatedChild:
        if self._owner != os.getpid():  # a forked copy must not share its parent's worker pipes
            self._child, self._owner = None, os.getpid()
        if self._child is None or not self._child.running:
            self._stop()
            self._child = IsolatedChild(
                "the chDB cold-query worker", cwd="/", idle_seconds=self.idle_seconds, fallback=ColdQueryError
            )
        return self._child

    def _stop(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.stop(timeout_seconds=10)


_worker = ColdQueryWorker()
atexit.register(_worker.close)


def cold_rows_batch(settings: Settings, warm: WarmTier, sqls: list[str]) -> list[list[list[object]]]:
    """Run several queries over cold tables (in the shared chDB worker when embedded); rows of each."""
    if not sqls:
        return []
    if not settings.warm_is_embedded:
        with warm.session():
            return [[list(row) for row in warm.rows(sql)] for sql in sqls]
    return _worker.query(sqls)


def cold_rows(settings: Settings, warm: WarmTier, sql: str) -> list[list[object]]:
    """Run ``sql`` (which reads cold tables through :func:`iceberg_table_function`) and return its rows."""
    return cold_rows_batch(settings, warm, [sql])[0]
