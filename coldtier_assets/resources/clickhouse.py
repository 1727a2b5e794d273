"""The warm tier: one clickhouse-connect API over a ClickHouse server (HTTP) or embedded chDB.

chDB is single-process: a second process opening the same path fails. :class:`WarmTier` therefore
serializes every embedded access with a file lock around open → work → close (and a thread lock
inside the process), so the Dagster webserver, daemon, run workers and the CLI can share it.
"""

from __future__ import annotations

import resource
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import clickhouse_connect
import pyarrow as pa
from clickhouse_connect.driver.client import Client
from filelock import FileLock, Timeout

from coldtier_assets.errors import WarmTableMissingError, WarmTierUnavailableError


def redact_dsn(dsn: str) -> str:
    """The DSN with its password replaced, for messages and logs."""
    parsed = urlparse(dsn)
    if parsed.password:
        netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@")
        return urlunparse(parsed._replace(netloc=netloc))
    return dsn


def raise_open_file_limit(wanted: int = 1_048_576) -> int:
    """Raise this process's open-file limit as far as allowed; returns the new soft limit.

    chDB 26.9 keeps about eight descriptors (per-thread procfs files) each time an embedded session
    is opened and closed, so a long-lived process needs a high limit (see the closing note of #3/#4).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for target in (max(hard, wanted), hard):
        if soft >= target:
            return soft
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, max(hard, target)))
            return target
        except (ValueError, OSError):
            continue
    return soft


class WarmTier:
    """Opens sessions on the warm tier; embedded (chDB) sessions are serialized across processes."""

    def __init__(
        self, dsn: str, *, lock_timeout_seconds: float = 900.0, connect_timeout_seconds: int = 10
    ) -> None:
        self.dsn = dsn
        self.embedded = dsn.startswith("chdb:")
        self.lock_timeout_seconds = lock_timeout_seconds
        self.connect_timeout_seconds = connect_timeout_seconds
        self._thread_lock = threading.RLock()
        self._local = threading.local()
        if self.embedded:
            raise_open_file_limit()
            self.path = Path(urlparse(dsn).path)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file_lock = FileLock(str(self.path) + ".lock", thread_local=False)

    def __repr__(self) -> str:
        return f"WarmTier({redact_dsn(self.dsn)!r})"

    @contextmanager
    def session(self) -> Iterator[Client]:
        """A client for one unit of work; nested calls in one thread reuse the open client."""
        current: Client | None = getattr(self._local, "client", None)
        if current is not None:
            yield current
            return
        with self._exclusive():
            client = self._connect()
            self._local.client = client
            try:
                yield client
            finally:
                self._local.client = None
                client.close()

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        if not self.embedded:
            yield
            return
        with self._thread_lock:
            try:
                self._file_lock.acquire(timeout=self.lock_timeout_seconds)
            except Timeout:
                raise WarmTierUnavailableError(
                    f"embedded warm tier {self.path} stayed locked by another process for "
                    f"{self.lock_timeout_seconds:.0f} s ({self._file_lock.lock_file})"
                ) from None
            try:
                yield
            finally:
                self._file_lock.release()

    def _connect(self) -> Client:
        try:
            if self.embedded:
                return clickhouse_connect.get_client(dsn=self.dsn)
            return clickhouse_connect.get_client(
                dsn=self.dsn,
                connect_timeout=self.connect_timeout_seconds,
                send_receive_timeout=3600,
                compress=True,
            )
        except Exception as error:
            raise WarmTierUnavailableError(
                f"cannot open warm tier {redact_dsn(self.dsn)}: {error}"
            ) from error

    def command(self, sql: str, parameters: dict[str, object] | None = None) -> object:
        """Run one statement that returns no rows (DDL, INSERT … SELECT, ALTER)."""
        with self.session() as client:
            return client.command(sql, parameters=parameters)

    def rows(self, sql: str, parameters: dict[str, object] | None = None) -> list[tuple[object, ...]]:
        """Run a query and return its rows as tuples."""
        with self.session() as client:
            return [tuple(row) for row in client.query(sql, parameters=parameters).result_rows]

    def arrow(self, sql: str, parameters: dict[str, object] | None = None) -> pa.Table:
        """Run a query and return the result as one Arrow table."""
        with self.session() as client:
            return client.query_arrow(sql, parameters=parameters)

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        """Insert an Arrow table into a ClickHouse table (columns matched by name)."""
        with self.session() as client:
            client.insert_arrow(table, data)

    def columns(self, table: str) -> dict[str, str]:
        """Column name → ClickHouse type of a table in the current database; raises if it is missing."""
        rows = self.rows(
            "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = {t:String} "
            "ORDER BY position",
            {"t": table},
        )
        if not rows:
            raise WarmTableMissingError(
                f"ClickHouse table {table!r} does not exist in {redact_dsn(self.dsn)} (run `coldtier init`?)"
            )
        return {str(name): str(type_) for name, type_ in rows}

    def table_exists(self, table: str) -> bool:
        """True when the table (or view) exists in the current database."""
        rows = self.rows(
            "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = {t:String}",
            {"t": table},
        )
        return bool(rows[0][0])
