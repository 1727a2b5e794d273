"""Read-only warm-tier queries for long-lived processes: a child process per session when embedded.

chDB 26.9 leaves about five threads and fifteen descriptors behind each time an embedded connection
is opened and closed (``benchmarks/chdb_fd_growth.py``). A run worker lives for minutes, but the
Dagster code server (sensors) and the metrics exporter live for months and open a connection every
tick or scrape: they would reach the open-file limit within days. :class:`IsolatedWarmReader` runs
each session's queries in a short-lived child process, which opens chDB under the usual file lock,
answers the queries and exits, taking chDB's leftovers with it. Against a ClickHouse server nothing
leaks, and the queries run in-process.

Run as ``python -m coldtier_assets.resources.warm_reader DSN LOCK_TIMEOUT``, this module is the child.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

from coldtier_assets.errors import ColdtierError, WarmQueryError, WarmTierUnavailableError, error_type
from coldtier_assets.redact import redact_url
from coldtier_assets.resources.child_process import JsonLineChild
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


def _error(answer: dict[str, str]) -> ColdtierError:
    """The coldtier exception a child reported (by class name), or :class:`WarmQueryError`."""
    return error_type(answer.get("error", ""), WarmQueryError)(
        answer.get("message", "the warm-tier reader failed")
    )


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
        child = JsonLineChild(
            [sys.executable, "-m", __name__, self.dsn, str(self.lock_timeout_seconds)], keep_stderr=True
        )
        try:
            ready = self._answer(child, child.answer())
            if "error" in ready:
                raise _error(ready)
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
            child: JsonLineChild = self._local.child
            answer = self._answer(child, child.ask({"sql": sql, "parameters": parameters}))
        if "error" in answer:
            raise _error(answer)
        return [tuple(row) for row in answer["rows"]]

    def _answer(self, child: JsonLineChild, answer: dict[str, Any] | None) -> dict[str, Any]:
        if answer is None:
            raise WarmTierUnavailableError(
                f"the warm-tier reader process for {redact_url(self.dsn)} {child.exit_detail()}"
            )
        return answer


def _send(answer: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(answer, default=str) + "\n")
    sys.stdout.flush()


def _failure(error: Exception) -> dict[str, object]:
    name = type(error).__name__ if isinstance(error, ColdtierError) else WarmQueryError.__name__
    return {"error": name, "message": str(error).strip() or repr(error)}


def main(argv: list[str]) -> None:
    """The child: open the warm tier once, answer one JSON request per stdin line, exit at EOF."""
    dsn, lock_timeout = argv[1], float(argv[2])
    warm = WarmTier(dsn, lock_timeout_seconds=lock_timeout, linger_seconds=0)
    try:
        with warm.session():
            _send({"ready": True})
            for line in sys.stdin:
                request = json.loads(line)
                try:
                    _send({"rows": warm.rows(request["sql"], request.get("parameters"))})
                except Exception as error:
                    _send(_failure(error))
    except Exception as error:  # the lock or the connection: reported instead of "ready"
        _send(_failure(error))


if __name__ == "__main__":
    main(sys.argv)
