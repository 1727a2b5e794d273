"""The exporter's Dagster figures: copies, failed runs and asset checks, from ``DAGSTER_HOME``.

:class:`DagsterSource` reads the Dagster instance: materializations of the cold assets (metadata
``rows``, ``bytes``, ``duration_s``) and failed runs are read incrementally (a cursor per asset, a
set of failed run ids), so a scrape costs the new events only; asset checks by the latest
evaluation of each (check, partition).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from coldtier_assets.config import Settings
from coldtier_assets.defs.assets.keys import cold_key
from coldtier_assets.defs.checks.asset_checks import check_names
from coldtier_assets.defs.jobs import offload_job_name, tables_by_window
from coldtier_assets.tables import TABLES

log = logging.getLogger(__name__)

_PAGE = 1000


@dataclass
class CopyTotals:
    """What the materializations of one cold table add up to."""

    rows: int = 0
    bytes: int = 0
    seconds: float = 0.0
    materializations: int = 0
    last_timestamp: float | None = None


@dataclass(frozen=True)
class CheckFigures:
    """One asset check of one table: partitions evaluated and partitions whose latest evaluation failed."""

    evaluated: int
    failed: int


@dataclass
class DagsterFigures:
    """The Dagster side of the metrics."""

    copies: dict[str, CopyTotals] = field(default_factory=dict)
    failed_runs_by_job: dict[str, int] = field(default_factory=dict)
    failed_runs_by_table: dict[str, int] = field(default_factory=dict)
    checks: dict[tuple[str, str], CheckFigures] = field(default_factory=dict)


def _metadata_number(metadata: Mapping[str, object], key: str) -> float:
    value = metadata.get(key)
    raw = getattr(value, "value", value)
    return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else 0.0


class DagsterSource:
    """Reads the Dagster instance of ``DAGSTER_HOME`` (when it exists), incrementally."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._instance: dg.DagsterInstance | None = None
        self._cursors: dict[str, int] = {}
        self._copies: dict[str, CopyTotals] = {spec.name: CopyTotals() for spec in TABLES}
        self._failed_runs: dict[str, tuple[str, tuple[str, ...]]] = {}  # run id → (job, tables)
        self._runs_seen_until: datetime | None = None
        self._tables_by_job = {
            offload_job_name(window): tuple(spec.name for spec in specs)
            for window, specs in tables_by_window(settings).items()
        }

    @property
    def home(self) -> Path:
        """The Dagster instance directory."""
        return self.settings.dagster_home

    def available(self) -> bool:
        """True when ``DAGSTER_HOME`` exists (otherwise Dagster has not run here yet)."""
        return self.home.is_dir()

    def instance(self) -> dg.DagsterInstance:
        """The instance, opened on first use and kept."""
        if self._instance is None:
            self._instance = dg.DagsterInstance.from_config(str(self.home))
        return self._instance

    def reset(self) -> None:
        """Forget the open instance (after an error); totals and cursors are kept."""
        if self._instance is not None:
            try:
                self._instance.dispose()
            except Exception:
                log.debug("could not dispose the Dagster instance", exc_info=True)
        self._instance = None

    def read(self) -> DagsterFigures:
        """Fresh figures: new materializations and failed runs since the last read, and check states."""
        instance = self.instance()
        self._read_materializations(instance)
        self._read_failed_runs(instance)
        by_job: Counter[str] = Counter()
        by_table: Counter[str] = Counter()
        for job, tables in self._failed_runs.values():
            by_job[job] += 1
            by_table.update(tables)
        return DagsterFigures(
            copies={name: CopyTotals(**vars(totals)) for name, totals in self._copies.items()},
            failed_runs_by_job=dict(by_job),
            failed_runs_by_table=dict(by_table),
            checks=self._read_checks(instance),
        )

    def _read_materializations(self, instance: dg.DagsterInstance) -> None:
        for spec in TABLES:
            key = cold_key(spec)
            totals = self._copies[spec.name]
            while True:
                result = instance.fetch_materializations(
                    dg.AssetRecordsFilter(asset_key=key, after_storage_id=self._cursors.get(spec.name)),
                    limit=_PAGE,
                    ascending=True,
                )
                for record in result.records:
                    materialization = record.asset_materialization
                    metadata = dict(materialization.metadata) if materialization else {}
                    totals.rows += int(_metadata_number(metadata, "rows"))
                    totals.bytes += int(_metadata_number(metadata, "bytes"))
                    totals.seconds += _metadata_number(metadata, "duration_s")
                    totals.materializations += 1
                    totals.last_timestamp = record.timestamp
                    self._cursors[spec.name] = record.storage_id
                if not result.has_more or not result.records:
                    break

    def _tables_of_run(self, run: dg.DagsterRun) -> tuple[str, ...]:
        if run.asset_selection:
            return tuple(
                sorted(
                    key.path[1] for key in run.asset_selection if len(key.path) == 2 and key.path[0] == "cold"
                )
            )
        return self._tables_by_job.get(run.job_name, ())

    def _read_failed_runs(self, instance: dg.DagsterInstance) -> None:
        after = self._runs_seen_until - timedelta(minutes=5) if self._runs_seen_until else None
        records = instance.get_run_records(
            filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE], updated_after=after),
            order_by="update_timestamp",
            ascending=True,
        )
        for record in records:
            run = record.dagster_run
            if run.run_id not in self._failed_runs:
                self._failed_runs[run.run_id] = (run.job_name, self._tables_of_run(run))
            seen = record.update_timestamp
            if self._runs_seen_until is None or seen > self._runs_seen_until:
                self._runs_seen_until = seen

    def _read_checks(self, instance: dg.DagsterInstance) -> dict[tuple[str, str], CheckFigures]:
        keys = [dg.AssetCheckKey(cold_key(spec), name) for spec in TABLES for name in check_names(spec)]
        infos = instance.event_log_storage.get_asset_check_partition_info(keys)
        evaluated: Counter[tuple[str, str]] = Counter()
        failed: Counter[tuple[str, str]] = Counter()
        for info in infos:
            index = (info.check_key.asset_key.path[-1], info.check_key.name)
            status = info.latest_execution_status
            if status in (AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED):
                evaluated[index] += 1
            if status == AssetCheckExecutionRecordStatus.FAILED:
                failed[index] += 1
        return {index: CheckFigures(evaluated[index], failed[index]) for index in evaluated}
