"""Progress bars for offload runs: windows (partitions) done out of total, rows copied, rows per second.

Dagster runs report progress through their event lines; :class:`RunProgress` listens on the event
logger of :mod:`coldtier_assets.defs.loggers` and advances a rich progress bar on every asset
materialization (one per partition). The offload command feeds the same bar from window results.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn


def offload_progress(console: Console) -> Progress:
    """A progress display with one bar per job or table."""
    return Progress(
        TextColumn("[bold]{task.description:<18}"),
        BarColumn(bar_width=28),
        TextColumn("{task.completed:>4.0f}/{task.total:<4.0f} windows"),
        TextColumn("{task.fields[rows]:>12,} rows"),
        TextColumn("{task.fields[rate]:>10,.0f} rows/s"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


class BarFeed:
    """Advances one task of a :class:`Progress`: partitions done, rows, rows per second."""

    def __init__(self, progress: Progress, description: str, total: int) -> None:
        self.progress = progress
        self.task: TaskID = progress.add_task(description, total=total, rows=0, rate=0.0)
        self.rows = 0
        self.started = time.monotonic()

    def advance(self, partitions: int, rows: int) -> None:
        """Count ``partitions`` more partitions and ``rows`` more rows."""
        self.rows += rows
        elapsed = max(time.monotonic() - self.started, 1e-6)
        self.progress.update(
            self.task, advance=partitions, rows=self.rows, rate=self.rows / elapsed, refresh=True
        )


class RunProgress(logging.Handler):
    """A logging handler that turns a Dagster run's materialization events into bar updates.

    A run over a partition range reports one materialization per partition, each carrying the whole
    step's metadata, so rows are counted once per step and partitions once per event.
    """

    def __init__(self, feed: BarFeed) -> None:
        super().__init__(level=logging.DEBUG)
        self.feed = feed
        self._steps_counted: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        """Advance the bar on ``ASSET_MATERIALIZATION`` events; ignore everything else."""
        try:
            self._advance(record)
        except Exception:  # a progress display must never fail a run
            self.handleError(record)

    def _advance(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None)
        event = meta.get("dagster_event") if isinstance(meta, dict) else None
        if event is None or event.event_type_value != "ASSET_MATERIALIZATION":
            return
        rows = 0
        step = f"{event.step_key}:{event.asset_key.to_user_string() if event.asset_key else ''}"
        if step not in self._steps_counted:
            self._steps_counted.add(step)
            value = event.step_materialization_data.materialization.metadata.get("rows")
            rows = int(getattr(value, "value", 0) or 0)
        self.feed.advance(1, rows)


@contextmanager
def listening(feed: BarFeed) -> Iterator[None]:
    """Feed ``feed`` from the Dagster event logger for the duration of the block."""
    from coldtier_assets.defs.loggers import EVENT_LOGGER_NAME  # imports Dagster: only `demo` listens

    handler = RunProgress(feed)
    logger = logging.getLogger(EVENT_LOGGER_NAME)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
