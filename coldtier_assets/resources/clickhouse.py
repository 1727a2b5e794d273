"""The warm tier: one clickhouse-connect API over a ClickHouse server (HTTP) or embedded chDB.

chDB is single-process: a second process opening the same path fails. :class:`WarmTier` therefore
serializes every embedded access with a file lock around open → work → close (and a thread lock
inside the process), so the Dagster webserver, daemon, run workers and the CLI can share it.
"""

from __future__ import annotations

import atexit
import resource
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import clickhouse_connect
import pyarrow as pa
from clickhouse_connect.driver.client import Client
from filelock import FileLock, Timeout

from coldtier_assets.errors import WarmTableMissingError, WarmTierUnavailableError
from coldtier_assets.redact import redact, redact_url


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


class WarmQueries:
    """Catalog lookups shared by every warm-tier reader, built on its ``rows``."""

    dsn: str

    def rows(self, sql: str, parameters: dict[str, object] | None = None) -> list[tuple[object, ...]]:
        """Run a query and return its rows as tuples."""
        raise NotImplementedError

    def columns(self, table: str) -> dict[str, str]:
        """Column name → ClickHouse type of a table in the current database; raises if it is missing."""
        rows = self.rows(
            "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = {t:String} "
            "ORDER BY position",
            {"t": table},
        )
        if not rows:
            raise WarmTableMissingError(
                f"ClickHouse table {table!r} does not exist in {redact_url(self.dsn)} (run `coldtier init`?)"
            )
        return {str(name): str(type_) for name, type_ in rows}

    def table_exists(self, table: str) -> bool:
        """True when the table (or view) exists in the current database."""
        rows = self.rows(
            "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = {t:String}",
            {"t": table},
        )
        return bool(rows[0][0])


#: ClickHouse settings for Arrow results that never leave the process (embedded chDB), set on each
#: embedded connection when it opens.
UNCOMPRESSED_ARROW = {"output_format_arrow_compression_method": "none"}

#: How often a process waiting for the embedded warm tier's lock renews its ``.waiting`` mark.
WAITING_MARK_REFRESH_SECONDS = 0.25

# Every WarmTier of this process: chDB serves one path per process, so opening one path first closes
# the idle connections kept to other paths.
_TIERS: weakref.WeakSet[WarmTier] = weakref.WeakSet()
_TIERS_LOCK = threading.Lock()


class WarmTier(WarmQueries):
    """Opens sessions on the warm tier; embedded (chDB) sessions are serialized across processes.

    An embedded connection costs about 50 ms to open (and chDB keeps a few descriptors each time), so
    after a session it is kept open, with the file lock, for ``linger_seconds``: a burst of queries
    (one asset step) shares one connection, and other processes wait at most that long once the
    burst ends. A process waiting for the lock says so (it touches ``<path>.waiting`` while it
    waits); a connection reused for longer than ``max_hold_seconds`` while another process waits is
    closed before the next session and the lock released for a moment, so a busy process does not
    starve the others, and a busy process nobody waits for does not reopen chDB for nothing.
    """

    def __init__(
        self,
        dsn: str,
        *,
        lock_timeout_seconds: float = 900.0,
        connect_timeout_seconds: int = 10,
        linger_seconds: float = 0.25,
        max_hold_seconds: float = 2.0,
    ) -> None:
        self.dsn = dsn
        self.embedded = dsn.startswith("chdb:")
        self.lock_timeout_seconds = lock_timeout_seconds
        self.connect_timeout_seconds = connect_timeout_seconds
        self.linger_seconds = linger_seconds
        self.max_hold_seconds = max_hold_seconds
        self._thread_lock = threading.RLock()
        self._local = threading.local()
        self._kept: Client | None = None  # embedded: the open connection (file lock held while set)
        self._kept_since = 0.0
        self._closer: threading.Timer | None = None
        if self.embedded:
            raise_open_file_limit()
            self.path = Path(urlparse(dsn).path)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file_lock = FileLock(str(self.path) + ".lock", thread_local=False)
            self._waiting_mark = Path(str(self.path) + ".waiting")
            with _TIERS_LOCK:
                _TIERS.add(self)

    def __repr__(self) -> str:
        return f"WarmTier({redact_url(self.dsn)!r})"

    @contextmanager
    def session(self) -> Iterator[Client]:
        """A client for one unit of work; nested calls in one thread reuse the open client."""
        current: Client | None = getattr(self._local, "client", None)
        if current is not None:
            yield current
            return
        if not self.embedded:
            client = self._connect()
            self._local.client = client
            try:
                yield client
            finally:
                self._local.client = None
                client.close()
            return
        with self._thread_lock:
            client = self._take_connection()
            self._local.client = client
            clean = False
            try:
                yield client
                clean = True
            finally:
                self._local.client = None
                if clean and self.linger_seconds > 0:
                    self._schedule_close()
                else:  # after an error, start the next session on a fresh connection
                    self.close()

    def close(self) -> None:
        """Close the kept embedded connection now and release the file lock (no-op if none)."""
        with self._thread_lock:
            if self._closer is not None:
                self._closer.cancel()
                self._closer = None
            client, self._kept = self._kept, None
            if client is None:
                return
            try:
                client.close()
            finally:
                self._file_lock.release()

    def _take_connection(self) -> Client:
        if self._closer is not None:
            self._closer.cancel()
            self._closer = None
        held_long = self._kept is not None and time.monotonic() - self._kept_since > self.max_hold_seconds
        if held_long and self._others_waiting():
            self.close()
            time.sleep(0.1)  # longer than FileLock's 50 ms poll, so the waiting process gets its turn
        if self._kept is not None:
            return self._kept
        _close_other_tiers(self)
        self._acquire_file_lock()
        try:
            self._kept = self._connect()
        except BaseException:
            self._file_lock.release()
            raise
        self._kept_since = time.monotonic()
        return self._kept

    def _acquire_file_lock(self) -> None:
        """Take the file lock, marking this process as waiting for as long as another one holds it."""
        deadline = time.monotonic() + self.lock_timeout_seconds
        try:
            self._file_lock.acquire(timeout=0)
            return
        except Timeout:
            pass
        while True:
            self._waiting_mark.touch()  # refreshed every poll: a mark older than that is stale
            remaining = deadline - time.monotonic()
            try:
                self._file_lock.acquire(timeout=max(0.0, min(WAITING_MARK_REFRESH_SECONDS, remaining)))
                return
            except Timeout:
                if remaining <= WAITING_MARK_REFRESH_SECONDS:
                    raise WarmTierUnavailableError(
                        f"embedded warm tier {self.path} stayed locked by another process for "
                        f"{self.lock_timeout_seconds:.0f} s ({self._file_lock.lock_file})"
                    ) from None

    def _others_waiting(self) -> bool:
        """Whether another process marked itself as waiting for the lock in the last moments."""
        try:
            touched = self._waiting_mark.stat().st_mtime
        except FileNotFoundError:
            return False
        return time.time() - touched < 4 * WAITING_MARK_REFRESH_SECONDS

    def _schedule_close(self) -> None:
        timer = threading.Timer(self.linger_seconds, self._close_if_idle)
        timer.daemon = True
        self._closer = timer
        timer.start()

    def _close_if_idle(self) -> None:
        if not self._thread_lock.acquire(blocking=False):
            return  # a session is running; it schedules its own close when it ends
        try:
            if self._closer is threading.current_thread():
                self._closer = None
                self.close()
        finally:
            self._thread_lock.release()

    def _connect(self) -> Client:
        try:
            if self.embedded:
                client = clickhouse_connect.get_client(dsn=self.dsn)
                for name, value in UNCOMPRESSED_ARROW.items():  # once per connection, not per query
                    client.command(f"SET {name} = '{value}'")
                return client
            return clickhouse_connect.get_client(
                dsn=self.dsn,
                connect_timeout=self.connect_timeout_seconds,
                send_receive_timeout=3600,
                compress=True,
            )
        except Exception as error:
            raise WarmTierUnavailableError(
                redact(f"cannot open warm tier {redact_url(self.dsn)}: {error}")
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
        """Run a query and return the result as one Arrow table.

        Embedded, the Arrow data is handed over uncompressed: ClickHouse compresses it with LZ4 by
        default, which in one process only costs CPU on both sides (0.3 s of 1.4 s of CPU reading a
        day of Silver, ``benchmarks/day_breakdown.py``). The connection is set so when it opens: the
        same setting passed with each query costs chDB about 5 ms per query (``day_breakdown.py``),
        0.1 s over a day of windows. A server's HTTP response keeps the default.
        """
        with self.session() as client:
            return client.query_arrow(sql, parameters=parameters)

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        """Insert an Arrow table into a ClickHouse table (columns matched by name)."""
        with self.session() as client:
            client.insert_arrow(table, data)


def _close_other_tiers(opening: WarmTier) -> None:
    """Close the idle connections other WarmTiers keep (chDB serves one path per process)."""
    with _TIERS_LOCK:
        others = [tier for tier in _TIERS if tier is not opening and tier._kept is not None]
    for tier in others:
        if tier._thread_lock.acquire(blocking=False):  # in use elsewhere: chDB will say so itself
            try:
                tier.close()
            finally:
                tier._thread_lock.release()


@atexit.register
def _close_all_tiers() -> None:
    with _TIERS_LOCK:
        tiers = list(_TIERS)
    for tier in tiers:
        tier.close()
