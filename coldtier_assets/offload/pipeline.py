"""Offload windows of one table: read each from ClickHouse in slices, commit it to Iceberg once.

Runs of consecutive empty windows are committed together as one marker commit, so a backfill over
quiet history costs one commit, not one per window.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from coldtier_assets.config import Settings
from coldtier_assets.errors import CommitNotLandedError, WarmDataPurgedError
from coldtier_assets.offload.datafiles import DataFileWriter
from coldtier_assets.offload.purge_guard import purge_guard
from coldtier_assets.offload.sink import PREFIX, commit_window, read_ledger
from coldtier_assets.offload.source import (
    ROW_HASH_COLUMN,
    SourceTable,
    check_source,
    checksum_of,
    read_slices,
    to_cold_arrow,
    window_row_counts,
)
from coldtier_assets.offload.windows import Window, split_windows
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.tables import TableSpec

log = logging.getLogger(__name__)


def _keep_files_of_unknown_commit(spec: TableSpec, window: Window, writer: DataFileWriter) -> None:
    """The commit may have landed (lost reply, run terminated mid-commit): its files must stay."""
    log.warning(
        "%s %s: commit outcome unknown; keeping its %d data file(s) (a re-run resolves the window, "
        "orphan-file removal reclaims them once unreferenced and old enough): %s",
        spec.name,
        window,
        len(writer.files),
        ", ".join(file.file_path for file in writer.files),
    )


@dataclass(frozen=True)
class WindowResult:
    """What one commit did: a window (or a run of empty windows) with its figures."""

    table: str
    window: Window
    rows: int
    checksum: int
    files: int
    bytes: int
    snapshot_id: int
    attempts: int
    seconds: float

    @property
    def checksum_hex(self) -> str:
        """The content checksum as 16 hex digits."""
        return f"{self.checksum:016x}"


@dataclass
class OffloadReport:
    """All commits of one offload call, plus the table's watermark after them."""

    table: str
    results: list[WindowResult] = field(default_factory=list)
    watermark: datetime | None = None

    @property
    def rows(self) -> int:
        """Rows written in total."""
        return sum(result.rows for result in self.results)

    @property
    def bytes(self) -> int:
        """Parquet bytes written in total."""
        return sum(result.bytes for result in self.results)

    @property
    def files(self) -> int:
        """Data files written in total."""
        return sum(result.files for result in self.results)


class Offloader:
    """Copies windows of the registry's tables from the warm tier to the cold tier."""

    def __init__(
        self,
        settings: Settings,
        warm: WarmTier,
        catalog_factory: Callable[[], Catalog],
        *,
        force: bool = False,
    ) -> None:
        """``force`` replaces cold windows even where the warm tier now holds fewer rows (the purge guard)."""
        self.settings = settings
        self.warm = warm
        self.catalog_factory = catalog_factory
        self.force = force

    def identifier(self, spec: TableSpec) -> tuple[str, str]:
        """The catalog identifier of a table's cold twin."""
        return (self.settings.namespace, spec.name)

    def offload(
        self,
        spec: TableSpec,
        start: datetime,
        end: datetime,
        run_id: str = "manual",
        on_window: Callable[[Window, int], None] | None = None,
    ) -> OffloadReport:
        """Copy every window of ``spec`` in [start, end); each non-empty window is its own commit.

        ``on_window(window, rows)`` (progress displays) is called as each window is done: once
        committed, or once read empty (its marker commit follows with the next non-empty window).
        """
        catalog = self.catalog_factory()
        table = catalog.load_table(self.identifier(spec))
        with self.warm.session():  # one session for the source check and the row counts
            source = check_source(self.warm, spec, table.schema())
            windows = split_windows(start, end, spec.window(self.settings.window))
            counts = window_row_counts(self.warm, source, windows)
        report = OffloadReport(spec.name)
        empty_run: list[Window] = []

        def flush_empty() -> None:
            if empty_run:
                report.results.append(
                    self._commit(
                        catalog, spec, Window(empty_run[0].start, empty_run[-1].end), None, 0, 0, run_id
                    )
                )
                empty_run.clear()

        guard = purge_guard(table, spec, windows, self.settings.catalog_uri, force=self.force)
        guard.check(zip(windows, counts, strict=True))  # counts are upper bounds: refuse early
        for window, expected in zip(windows, counts, strict=True):
            started = time.monotonic()
            writer, rows, checksum = (
                self._write(table, source, window, expected) if expected else (None, 0, 0)
            )
            try:
                guard.check([(window, rows)])  # the rows actually read (the window may have emptied)
            except WarmDataPurgedError:
                if writer is not None:
                    writer.discard()  # never committed
                raise
            if rows == 0:
                empty_run.append(window)
                if on_window is not None:
                    on_window(window, 0)
                continue
            assert writer is not None
            flush_empty()
            try:
                result = self._commit(catalog, spec, window, writer, rows, checksum, run_id, started)
            except CommitNotLandedError:
                writer.discard()  # known not to have landed: nothing references the files
                raise
            except BaseException:
                _keep_files_of_unknown_commit(spec, window, writer)
                raise
            report.results.append(result)
            if on_window is not None:
                on_window(window, rows)
        flush_empty()
        report.watermark = read_ledger(catalog.load_table(self.identifier(spec))).watermark
        return report

    def _write(
        self, table: Table, source: SourceTable, window: Window, expected_rows: int
    ) -> tuple[DataFileWriter, int, int]:
        writer = DataFileWriter(table)
        rows = checksum = 0
        # Pipelined: ClickHouse reads slice n+1 while slice n is written as Parquet (both release the
        # GIL), so at most two slices are in memory. One warm session serves all slices of the window.
        with self.warm.session(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet") as pool:
            pending: Future[None] | None = None
            try:
                for data in read_slices(
                    self.warm, source, window, self.settings.read_slice_rows, expected_rows
                ):
                    cold = to_cold_arrow(data, source, window)  # rejects NULLs first
                    checksum = (checksum + checksum_of(data.column(ROW_HASH_COLUMN))) % 2**64
                    rows += data.num_rows
                    del data
                    if pending is not None:
                        pending.result()
                    pending = pool.submit(writer.write, cold)
                    del cold
                if pending is not None:
                    pending.result()
            except BaseException:
                if pending is not None:
                    pending.cancel()
                    wait([pending])
                writer.discard()
                raise
        return writer, rows, checksum

    def _commit(
        self,
        catalog: Catalog,
        spec: TableSpec,
        window: Window,
        writer: DataFileWriter | None,
        rows: int,
        checksum: int,
        run_id: str,
        started: float | None = None,
    ) -> WindowResult:
        started = time.monotonic() if started is None else started
        files = writer.files if writer else []
        summary = {
            PREFIX + "source-rows": str(rows),
            PREFIX + "source-checksum": f"{checksum:016x}",
            PREFIX + "run-id": run_id,
            PREFIX + "committed-at": datetime.now(UTC).isoformat(),
        }
        outcome = commit_window(catalog, self.identifier(spec), spec.time_column, window, files, summary)
        result = WindowResult(
            table=spec.name,
            window=window,
            rows=rows,
            checksum=checksum,
            files=len(files),
            bytes=writer.bytes_written if writer else 0,
            snapshot_id=outcome.snapshot_id,
            attempts=outcome.attempts,
            seconds=time.monotonic() - started,
        )
        log.info(
            "%s %s: %d rows, %d files, snapshot %d", spec.name, window, rows, len(files), outcome.snapshot_id
        )
        return result
