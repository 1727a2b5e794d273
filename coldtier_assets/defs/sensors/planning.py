"""What the offload sensor should launch: closed windows not yet copied (healing is in healing.py).

Kept apart from the sensor functions so it can be reasoned about (and tested) with plain inputs:
the Iceberg ledgers say what is committed, the Dagster instance says what is in flight or failed,
ClickHouse says what the warm windows hold now.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from coldtier_assets.config import Settings
from coldtier_assets.defs.assets.keys import cold_key
from coldtier_assets.defs.jobs import offload_job_name, table_tag, tables_by_window
from coldtier_assets.defs.partitions import MAX_WINDOWS_PER_RUN, PARTITION_FORMAT
from coldtier_assets.offload.sink import read_ledger
from coldtier_assets.offload.windows import (
    Ledger,
    Window,
    aligned_windows,
    closed_window_end,
    utc,
)
from coldtier_assets.tables import TableSpec, get_table

WINDOWS_TAG = "coldtier/windows"
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


@dataclass(frozen=True)
class Request:
    """One run to launch: a job, a contiguous range of windows and the tables to copy."""

    job: str
    windows: tuple[Window, ...]
    tables: tuple[str, ...]
    reason: str
    key_suffix: str = ""

    @property
    def first_key(self) -> str:
        """Partition key of the first window."""
        return self.windows[0].start.strftime(PARTITION_FORMAT)

    @property
    def last_key(self) -> str:
        """Partition key of the last window."""
        return self.windows[-1].start.strftime(PARTITION_FORMAT)

    @property
    def label(self) -> str:
        """The windows as ``first..last`` partition keys."""
        return f"{self.first_key}..{self.last_key}"

    def run_request(self, attempt: int) -> dg.RunRequest:
        """The Dagster run request; its run key makes a duplicate tick a no-op."""
        tags = {WINDOWS_TAG: self.label, "coldtier/reason": self.reason}
        tags.update({table_tag(name): "copy" for name in self.tables})  # per-table run limits
        if len(self.windows) == 1:
            tags[PARTITION_NAME_TAG] = self.first_key
        else:
            tags[ASSET_PARTITION_RANGE_START_TAG] = self.first_key
            tags[ASSET_PARTITION_RANGE_END_TAG] = self.last_key
        suffix = f":{self.key_suffix}" if self.key_suffix else ""
        return dg.RunRequest(
            run_key=f"{self.reason}:{self.job}:{self.label}:{','.join(self.tables)}:{attempt}{suffix}",
            job_name=self.job,
            asset_selection=[cold_key(name) for name in self.tables],
            tags=tags,
        )


@dataclass
class Plan:
    """The requests of one sensor tick and the per-job closed-window ends (the cursor)."""

    requests: list[Request] = field(default_factory=list)
    closed_until: dict[str, str] = field(default_factory=dict)


def _chunks(windows: list[Window], size: int) -> list[list[Window]]:
    """Split sorted windows into runs of consecutive windows of at most ``size``."""
    chunks: list[list[Window]] = []
    for window in windows:
        if chunks and chunks[-1][-1].end == window.start and len(chunks[-1]) < size:
            chunks[-1].append(window)
        else:
            chunks.append([window])
    return chunks


def windows_per_run(missing: int, concurrent_runs: int) -> int:
    """How many windows one run copies: a catch-up of ``missing`` windows is spread over the runs.

    At most :data:`MAX_WINDOWS_PER_RUN`; a day of 15-minute windows with 4 concurrent runs is 4 runs
    of 24 windows, which the queued run coordinator runs at once (within the per-table limit).
    """
    return max(1, min(MAX_WINDOWS_PER_RUN, math.ceil(missing / max(1, concurrent_runs))))


def windows_of_run(run: dg.DagsterRun, length: timedelta) -> set[datetime]:
    """Window starts a run covers, from its partition tags."""
    tags = run.tags
    first = tags.get(ASSET_PARTITION_RANGE_START_TAG) or tags.get(PARTITION_NAME_TAG)
    last = tags.get(ASSET_PARTITION_RANGE_END_TAG) or first
    if not first or not last:
        return set()
    start = utc(datetime.strptime(first, PARTITION_FORMAT))
    end = utc(datetime.strptime(last, PARTITION_FORMAT)) + length
    return {window.start for window in aligned_windows(start, end, length)}


def in_flight_windows(instance: dg.DagsterInstance, job: str, length: timedelta) -> set[datetime]:
    """Window starts that a queued or running run of ``job`` is already copying."""
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=job, statuses=IN_FLIGHT))
    return {start for run in runs for start in windows_of_run(run, length)}


def failed_windows(
    instance: dg.DagsterInstance, job: str, length: timedelta, limit: int = 500
) -> set[datetime]:
    """Window starts that one of the latest ``limit`` failed or canceled runs of ``job`` tried to copy."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(
            job_name=job, statuses=[dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
        ),
        limit=limit,
    )
    return {start for run in runs for start in windows_of_run(run, length)}


def failed_attempts(instance: dg.DagsterInstance, job: str, label: str) -> int:
    """How many runs of ``job`` over exactly these windows failed or were canceled (for fresh run keys)."""
    return instance.get_runs_count(
        filters=dg.RunsFilter(
            job_name=job,
            tags={WINDOWS_TAG: label},
            statuses=[dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED],
        )
    )


def load_table(catalog: Catalog, settings: Settings, spec: TableSpec) -> Table:
    """The cold table of ``spec``."""
    return catalog.load_table((settings.namespace, spec.name))


def plan_closed_windows(
    settings: Settings, catalog: Catalog, instance: dg.DagsterInstance, now: datetime
) -> Plan:
    """Requests for every closed window (end + allowed lateness ≤ now) that is neither committed nor in flight.

    Every committed range counts: gaps between ranges are planned, and so are windows before the
    first committed range that a failed or canceled run tried to copy (a first chunk that failed
    while later ones landed is not abandoned). Dependency order: Bronze, Silver and the short Gold
    candles share a job (one run per range runs them in graph order); a longer Gold window is
    requested only once cold Silver covers it.
    """
    plan = Plan()
    ledgers = {
        spec.name: read_ledger(load_table(catalog, settings, spec))
        for group in tables_by_window(settings).values()
        for spec in group
    }
    for length, specs in tables_by_window(settings).items():
        job = offload_job_name(length)
        closed_end = closed_window_end(now, length, settings.allowed_lateness)
        plan.closed_until[job] = closed_end.isoformat()
        busy = in_flight_windows(instance, job, length)
        failed = failed_windows(instance, job, length)
        missing_by_window: dict[Window, list[str]] = {}
        for spec in specs:
            ledger = ledgers[spec.name]
            begin = _planning_start(settings, ledger, closed_end, failed, length)
            if begin >= closed_end:
                continue
            for window in ledger.missing(aligned_windows(begin, closed_end, length)):
                if window.start in busy or not _upstream_ready(spec, window, ledgers, settings):
                    continue
                missing_by_window.setdefault(window, []).append(spec.name)
        size = windows_per_run(len(missing_by_window), settings.max_concurrent_runs)
        for chunk in _chunks(sorted(missing_by_window), size):
            tables = sorted({name for window in chunk for name in missing_by_window[window]})
            plan.requests.append(Request(job, tuple(chunk), tuple(tables), "offload"))
    return plan


def _planning_start(
    settings: Settings, ledger: Ledger, closed_end: datetime, failed: set[datetime], length: timedelta
) -> datetime:
    """Where a table's planning begins (never before ``settings.start``).

    Its first committed window (with none, the first-copy lookback), or earlier where a failed run
    left a window uncommitted.
    """
    if ledger.ranges:
        horizon = datetime.fromtimestamp(ledger.ranges[0][0], UTC)
    else:
        horizon = closed_end - settings.first_copy_lookback
    abandoned = [
        start for start in failed if start < horizon and not ledger.covers(Window(start, start + length))
    ]
    return max(settings.start, min([horizon, *abandoned]))


def same_job(spec: TableSpec, upstream: str, settings: Settings) -> bool:
    """True when ``upstream`` is copied by the same job as ``spec`` (same window length)."""
    return get_table(upstream).window(settings.window) == spec.window(settings.window)


def _upstream_ready(spec: TableSpec, window: Window, ledgers: dict[str, Ledger], settings: Settings) -> bool:
    """A table whose upstream is in another job waits until the upstream covers the window."""
    return all(
        ledgers[upstream].covers(window) or same_job(spec, upstream, settings) for upstream in spec.upstream
    )
