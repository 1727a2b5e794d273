"""Read-only warm-tier queries for long-lived processes: a child process per session when embedded.

chDB 26.9 leaves about five threads and fifteen descriptors behind each time an embedded connection
is opened and closed (``benchmarks/chdb_fd_growth.py``). A run worker lives for minutes, but the
Dagster code server (sensors) and the metrics exporter live for months and open a connection every
tick or scrape: they would reach the open-file limit within days. :class:`IsolatedWarmReader` runs
each session's queries in a short-lived child process, which opens chDB under the usual file lock,
answers the queries and exits, taking chDB's leftovers with it (an
:class:`~coldtier_assets.resources.child_process.IsolatedChild`). Against a ClickHouse server
nothing leaks, and the queries run in-process.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from typing import Protocol

from coldtier_assets.errors import WarmQueryError, WarmTierUnavailableError
from coldtier_assets.redact import redact_url
from coldtier_assets.resources.child_process import ChildExitedError, IsolatedChild
from coldtier_assets.resources.clickhouse import WarmQueries, WarmTier


class WarmReader(Protocol):
    """What read-only warm-tier code needs: rows, columns and a session grouping queries."""

    def rows(self, sql: str, parameters: dict[str, object] | None = None) -> list[tuple[object, ...]]:
        """Run a query and return its rows as tuples."""
        ...

    def columns(self, table: str) -> dict[str, str]:
        """Column name → ClickHouse type of a table; raises if it is missing."""
        ...

    def table_exists(self, table: str) -> bool:
        """True when the table (or view) exists."""
        ...

    def session(self) -> AbstractContextManager[object]:
        """Group the queries of one unit of work."""
        ...


@contextmanager
def _open_session(dsn: str, lock_timeout_seconds: float) -> Iterator[WarmTier]:
    """In the child: the warm tier, open (with its lock) for the whole session."""
    warm = WarmTier(dsn, lock_timeout_seconds=lock_timeout_seconds, linger_seconds=0)
    with warm.session():
        yield warm


def _rows(warm: WarmTier, sql: str, parameters: dict[str, object] | None) -> list[tuple[object, ...]]:
    """In the child: a query's rows, values as JSON has them (dates, decimals… as text)."""
    return [tuple(row) for row in json.loads(json.dumps(warm.rows(sql, parameters), default=str))]


class IsolatedWarmReader(WarmQueries):
    """Read-only warm queries; embedded sessions run in a child process that exits after each session.

    Values come back as JSON: numbers and strings as they are, anything else (dates, decimals) as
    text. Do not call it inside an open embedded :class:`WarmTier` session of the same thread: the
    child would wait for that session's lock.
    """

    def __init__(self, dsn: str, *, lock_timeout_seconds: float = 900.0) -> None:
        self.dsn = dsn
        self.embedded = dsn.startswith("chdb:")
        self.lock_timeout_seconds = lock_timeout_seconds
        self._direct = None if self.embedded else WarmTier(dsn, lock_timeout_seconds=lock_timeout_seconds)
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"IsolatedWarmReader({redact_url(self.dsn)!r})"

    @contextmanager
    def session(self) -> Iterator[None]:
        """One child process (embedded) serving every query of the block."""
        if self._direct is not None:
            with self._direct.session():
                yield
            return
        if getattr(self._local, "child", None) is not None:
            yield
            return
        child = IsolatedChild(
            f"the warm-tier reader process for {redact_url(self.dsn)}",
            setup=partial(_open_session, self.dsn, self.lock_timeout_seconds),
            fallback=WarmQueryError,
        )
        try:
            try:
                child.start()
            except ChildExitedError as error:
                raise WarmTierUnavailableError(str(error)) from None
            self._local.child = child
            yield
        finally:
            self._local.child = None
            child.stop()

    def rows(self, sql: str, parameters: dict[str, object] | None = None) -> list[tuple[object, ...]]:
        """Run a query (in the session's child when embedded) and return its rows as tuples."""
        if self._direct is not None:
            return self._direct.rows(sql, parameters)
        with self.session():
            child: IsolatedChild = self._local.child
            try:
                return child.call(_rows, sql, parameters)
            except ChildExitedError as error:
                raise WarmTierUnavailableError(str(error)) from None
