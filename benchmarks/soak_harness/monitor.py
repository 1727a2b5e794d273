"""Sampling during the run: watermark regressions, first-commit times (cold lag) and recovery.

A background thread loads every cold table every few seconds. Per table it keeps the highest
watermark seen and the windows ever covered by the ledger: a lower watermark, or a covered window
no longer covered, is a *watermark regression*. It records the earliest ``coldtier.committed-at``
of each window from the snapshot summaries (sampled, because snapshot expiry removes them later),
and whether the system is *caught up* (no base-window table misses a window older than one window), which
closes the recovery clock of each fault.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from coldtier_assets.config import Settings
from coldtier_assets.offload.sink import read_ledger
from coldtier_assets.offload.windows import Ledger, aligned_windows, closed_window_end
from coldtier_assets.resources.iceberg import open_catalog
from coldtier_assets.tables import TABLES, TableSpec

log = logging.getLogger(__name__)
PREFIX = "coldtier."


@dataclass
class Regression:
    """The ledger of a table went backwards between two samples."""

    table: str
    at: str
    detail: str


@dataclass
class PendingRecovery:
    """A fault whose recovery clock is running (from the moment the fault ended)."""

    kind: str
    ended: float


def _covered_starts(ledger: Ledger, length: timedelta, since: datetime) -> set[datetime]:
    starts: set[datetime] = set()
    for first, last in ledger.ranges:
        begin = max(datetime.fromtimestamp(first, UTC), since)
        end = datetime.fromtimestamp(last, UTC)
        if begin < end:
            starts.update(window.start for window in aligned_windows(begin, end, length))
    return starts


def _commit_times(table: Table, length: timedelta) -> dict[datetime, datetime]:
    """Window start -> when a coldtier commit of it was made, from the snapshot summaries."""
    found: dict[datetime, datetime] = {}
    for snapshot in table.metadata.snapshots:
        props = snapshot.summary.additional_properties if snapshot.summary else {}
        start, end, at = (props.get(PREFIX + key) for key in ("window-start", "window-end", "committed-at"))
        if not (start and end and at):
            continue
        committed = datetime.fromisoformat(at)
        for window in aligned_windows(datetime.fromisoformat(start), datetime.fromisoformat(end), length):
            if window.start not in found or committed < found[window.start]:
                found[window.start] = committed
    return found


@dataclass
class Monitor:
    """The sampler; :meth:`start` runs it in a daemon thread until :meth:`stop`."""

    settings: Settings
    since: datetime
    interval: float = 5.0
    regressions: list[Regression] = field(default_factory=list)
    first_commit: dict[str, dict[datetime, datetime]] = field(default_factory=dict)
    recoveries: dict[str, list[float]] = field(default_factory=dict)
    unrecovered: list[PendingRecovery] = field(default_factory=list)
    samples: int = 0
    failed_samples: int = 0
    caught_up: bool = False
    rebases: list[Regression] = field(default_factory=list)
    _high: dict[str, datetime] = field(default_factory=dict)
    _first: dict[str, int] = field(default_factory=dict)
    _covered: dict[str, set[datetime]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Start sampling in the background."""
        self._thread = threading.Thread(target=self._run, name="soak-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling (after one last sample)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=120)

    def fault_ended(self, kind: str) -> None:
        """Start the recovery clock of a fault that just ended."""
        with self._lock:
            self.unrecovered.append(PendingRecovery(kind, time.monotonic()))

    def _run(self) -> None:
        catalog: Catalog | None = None
        while True:
            stopping = self._stop.wait(self.interval)
            try:
                catalog = catalog or open_catalog(self.settings)
                self.sample(catalog, datetime.now(UTC))
            except Exception as error:  # PostgreSQL down, a table mid-commit: the next sample retries
                self.failed_samples += 1
                catalog = None
                log.debug("sample failed: %s", error)
            if stopping:
                return

    def sample(self, catalog: Catalog, now: datetime) -> None:
        """Load every table once; record regressions, commit times and whether the system caught up."""
        tables = {spec.name: catalog.load_table((self.settings.namespace, spec.name)) for spec in TABLES}
        behind = False
        for spec in TABLES:
            table = tables[spec.name]
            length = spec.window(self.settings.window)
            ledger = read_ledger(table)
            self._check_regression(spec, ledger, length, now)
            times = self.first_commit.setdefault(spec.name, {})
            for start, committed in _commit_times(table, length).items():
                if start not in times or committed < times[start]:
                    times[start] = committed
            if length == self.settings.window:  # caught up: no gap up to one window before the latest closed
                due = closed_window_end(now, length, self.settings.allowed_lateness) - length
                begin = self.since - timedelta(seconds=self.since.timestamp() % length.total_seconds())
                behind = behind or any(True for _ in ledger.missing(aligned_windows(begin, due, length)))
        self.samples += 1
        self.caught_up = not behind
        if not behind:
            with self._lock:
                for pending in self.unrecovered:
                    self.recoveries.setdefault(pending.kind, []).append(time.monotonic() - pending.ended)
                self.unrecovered.clear()

    def _check_regression(self, spec: TableSpec, ledger: Ledger, length: timedelta, now: datetime) -> None:
        """A covered window uncovered, or the watermark lower with the same first window, is a regression.

        The watermark is the end of the contiguous run from the *earliest committed* window. When a
        window before that one lands later (a first chunk of the backlog that failed, or finished
        after the next chunk), the reference point moves and the watermark with it while coverage
        only grows: that is recorded as a rebase, not a regression.
        """
        watermark = ledger.watermark
        first = ledger.ranges[0][0] if ledger.ranges else None
        high = self._high.get(spec.name)
        if high is not None and (watermark is None or watermark < high):
            detail = f"watermark {watermark} < {high}"
            if first is not None and first < self._first.get(spec.name, first):
                self.rebases.append(
                    Regression(spec.name, now.isoformat(), detail + " (an earlier window landed)")
                )
            else:
                self.regressions.append(Regression(spec.name, now.isoformat(), detail))
        if watermark is not None:
            self._high[spec.name] = (
                watermark if high is None or first != self._first.get(spec.name) else max(high, watermark)
            )
        if first is not None:
            self._first[spec.name] = first
        covered = _covered_starts(ledger, length, self.since)
        lost = self._covered.get(spec.name, set()) - covered
        if lost:
            at = min(lost).isoformat()
            self.regressions.append(
                Regression(spec.name, now.isoformat(), f"{len(lost)} window(s) uncovered from {at}")
            )
        self._covered[spec.name] = self._covered.get(spec.name, set()) | covered
