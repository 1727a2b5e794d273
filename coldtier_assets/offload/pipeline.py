"""Offload windows of one table: read each from ClickHouse in slices, commit them to Iceberg.

Each window is read in slices and written as Parquet on its own (bounded memory); consecutive windows
are committed together, in batches bounded by :class:`~coldtier_assets.offload.batch.BatchLimits`
(one window per run in steady state, so one commit; a catch-up of many windows, a few commits).
Empty windows join the batch like any other, so a backfill over quiet history costs one commit too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from coldtier_assets.config import Settings
from coldtier_assets.errors import CommitNotLandedError, WarmDataPurgedError
from coldtier_assets.offload.batch import Batch, BatchLimits, WrittenWindow
from coldtier_assets.offload.datafiles import DataFileWriter
from coldtier_assets.offload.purge_guard import PurgeGuard, purge_guard
from coldtier_assets.offload.report import OffloadReport, WindowResult, window_results
from coldtier_assets.offload.sink import PREFIX, ROW_HASH_KEY, WINDOWS_KEY, commit_window, read_ledger
from coldtier_assets.offload.source import (
    ROW_HASH_COLUMN,
    ROW_HASH_VERSION,
    SourceTable,
    check_source,
    checksum_of,
    read_slices,
    to_cold_arrow,
    window_row_counts,
)
from coldtier_assets.offload.windows import Window, split_windows
from coldtier_assets.offload.write_queue import WriteQueue
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.tables import TableSpec

log = logging.getLogger(__name__)

__all__ = ["OffloadReport", "Offloader", "WindowResult"]

#: Called as each window is committed (progress displays): the window and its rows.
OnWindow = Callable[[Window, int], None]


def _keep_files_of_unknown_commit(spec: TableSpec, batch: Batch) -> None:
    """The commit may have landed (lost reply, run terminated mid-commit): its files must stay."""
    files = batch.files
    log.warning(
        "%s %s: commit outcome unknown; keeping its %d data file(s) (a re-run resolves the windows, "
        "orphan-file removal reclaims them once unreferenced and old enough): %s",
        spec.name,
        batch.span,
        len(files),
        ", ".join(file.file_path for file in files),
    )


def _committed_stretch(table: Table, windows: list[Window]) -> list[Window]:
    """The windows from the first to the last the ledger holds part of (the purge guard reads those).

    A window the ledger holds nothing of has no coldtier rows to lose, and a first copy deletes
    nothing there (see ``sink.commit_window``): a steady-state run reads no cold data for its guard.
    """
    ledger = read_ledger(table)
    held = [i for i, window in enumerate(windows) if ledger.overlaps(window)]
    return windows[held[0] : held[-1] + 1] if held else []


class Offloader:
    """Copies windows of the registry's tables from the warm tier to the cold tier."""

    def __init__(
        self,
        settings: Settings,
        warm: WarmTier,
        catalog_factory: Callable[[], Catalog],
        *,
        force: bool = False,
        limits: BatchLimits | None = None,
    ) -> None:
        """``force`` replaces cold windows even where the warm tier now holds fewer rows (the purge guard).

        ``limits`` bound what one commit carries (default :class:`BatchLimits`).
        """
        self.settings = settings
        self.warm = warm
        self.catalog_factory = catalog_factory
        self.force = force
        self.limits = limits or BatchLimits()

    def identifier(self, spec: TableSpec) -> tuple[str, str]:
        """The catalog identifier of a table's cold twin."""
        return (self.settings.namespace, spec.name)

    def offload(
        self,
        spec: TableSpec,
        start: datetime,
        end: datetime,
        run_id: str = "manual",
        on_window: OnWindow | None = None,
    ) -> OffloadReport:
        """Copy every window of ``spec`` in [start, end), committing consecutive windows in batches.

        ``on_window(window, rows)`` (progress displays) is called for each window once committed.
        """
        catalog = self.catalog_factory()
        table = catalog.load_table(self.identifier(spec))
        with self.warm.session():  # one session for the source check and the row counts
            source = check_source(self.warm, spec, table.schema())
            windows = split_windows(start, end, spec.window(self.settings.window))
            counts = window_row_counts(self.warm, source, windows)
        guard = purge_guard(
            table, spec, _committed_stretch(table, windows), self.settings.catalog_uri, force=self.force
        )
        guard.check(zip(windows, counts, strict=True))  # counts are upper bounds: refuse early
        report = OffloadReport(spec.name)
        batch = Batch()
        try:
            with WriteQueue() as queue:  # window n's last slice is written while n + 1 is read
                for window, expected in zip(windows, counts, strict=True):
                    written = self._read_window(table, source, guard, window, expected, queue)
                    batch.add(written)
                    if batch.full(self.limits):
                        queue.drain()
                        table = self._commit(catalog, spec, table, batch.take(), report, run_id, on_window)
            if batch.windows:  # the queue has drained
                table = self._commit(catalog, spec, table, batch.take(), report, run_id, on_window)
        except WarmDataPurgedError:
            if batch.windows:  # the windows before the refused one passed: commit them, then refuse
                self._commit(self.catalog_factory(), spec, None, batch.take(), report, run_id, None)
            raise
        except BaseException:
            batch.discard()  # windows written but never handed to a commit (the queue has stopped)
            raise
        report.watermark = read_ledger(table).watermark
        return report

    def _read_window(
        self,
        table: Table,
        source: SourceTable,
        guard: PurgeGuard,
        window: Window,
        expected: int,
        queue: WriteQueue,
    ) -> WrittenWindow:
        """Read one window and queue its writes, checked by the purge guard against the rows actually read.

        A refused window's files are deleted and :class:`WarmDataPurgedError` raised; the caller
        commits the windows already batched (they passed) before passing the refusal on.
        """
        started = time.monotonic()
        writer, rows, checksum = (
            self._write(table, source, window, expected, queue) if expected else (None, 0, 0)
        )
        try:
            guard.check([(window, rows)])  # the rows actually read (the window may have emptied)
        except WarmDataPurgedError:
            queue.drain()  # the batched windows are committed next: their last write must have ended
            if writer is not None:
                writer.discard()  # never committed
            raise
        return WrittenWindow(window, writer, rows, checksum, time.monotonic() - started)

    def _write(
        self, table: Table, source: SourceTable, window: Window, expected_rows: int, queue: WriteQueue
    ) -> tuple[DataFileWriter, int, int]:
        """Read the window slice by slice, queueing each slice's write (the last may still be running).

        ClickHouse reads slice n + 1 while slice n is written as Parquet (both release the GIL). One
        warm session serves all slices of the window.
        """
        writer = DataFileWriter(table)
        rows = checksum = 0
        with self.warm.session():
            try:
                for data in read_slices(
                    self.warm, source, window, self.settings.read_slice_rows, expected_rows
                ):
                    cold = to_cold_arrow(data, source, window)  # rejects NULLs first
                    checksum = (checksum + checksum_of(data.column(ROW_HASH_COLUMN))) % 2**64
                    rows += data.num_rows
                    del data
                    queue.submit(writer, cold)
                    del cold
            except BaseException:
                queue.abandon()
                writer.discard()
                raise
        return writer, rows, checksum

    def _commit(
        self,
        catalog: Catalog,
        spec: TableSpec,
        table: Table | None,
        batch: Batch,
        report: OffloadReport,
        run_id: str,
        on_window: OnWindow | None,
    ) -> Table:
        """Commit a batch in one Iceberg commit; returns the table as the commit left it."""
        started = time.monotonic()
        rows, checksum = batch.figures()
        summary = {
            PREFIX + "source-rows": str(rows),
            PREFIX + "source-checksum": f"{checksum:016x}",
            ROW_HASH_KEY: ROW_HASH_VERSION,
            PREFIX + "run-id": run_id,
            PREFIX + "committed-at": datetime.now(UTC).isoformat(),
        }
        if len(batch.windows) > 1:
            summary[WINDOWS_KEY] = batch.encoded_windows()
        try:
            outcome = commit_window(
                catalog,
                self.identifier(spec),
                spec.time_column,
                batch.span,
                batch.files,
                summary,
                table=table,
            )
        except CommitNotLandedError:
            batch.discard()  # known not to have landed: nothing references the files
            raise
        except BaseException:
            _keep_files_of_unknown_commit(spec, batch)
            raise
        report.results += window_results(spec, batch, outcome, time.monotonic() - started)
        log.info(
            "%s %s: %d window(s), %d rows, %d files, snapshot %d",
            spec.name,
            batch.span,
            len(batch.windows),
            rows,
            len(batch.files),
            outcome.snapshot_id,
        )
        if on_window is not None:
            for written in batch.windows:
                on_window(written.window, written.rows)
        return outcome.table or catalog.load_table(self.identifier(spec))
