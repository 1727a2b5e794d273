"""The daily maintenance of the cold tables: compact → expire snapshots → remove orphans → audit.

The first three run on an engine (:mod:`.actions`): pyiceberg in this process by default, or Iceberg's
own Spark procedures when a Spark session is given (``COLDTIER_MAINTENANCE_ENGINE=spark``). The audit
is the same for both.

Each action of each table writes one row to the ``maintenance_audit_log``. A failed action is logged
with outcome ``failed`` and its error; the table's remaining actions are logged ``skipped`` and the
run goes on with the next table. The caller decides whether the run failed
(:func:`raise_for_failures`).

The audit fingerprints the current snapshot before compaction (ClickHouse over the Iceberg files)
and compares it with the current snapshot after orphan removal; that first snapshot is protected
from expiry until the audit has read it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pyiceberg.catalog import Catalog

from coldtier_assets.config import Settings
from coldtier_assets.errors import ColdtierError
from coldtier_assets.maintenance.actions import MaintenanceEngine, PyicebergEngine, Step, TableJob
from coldtier_assets.maintenance.audit import AuditResult, Fingerprint, audit_table, fingerprints
from coldtier_assets.maintenance.audit_log import Action, AuditRow, Outcome, write_audit_row
from coldtier_assets.maintenance.policy import MaintenancePolicy
from coldtier_assets.maintenance.spark_engine import SparkEngine
from coldtier_assets.maintenance.state import table_state
from coldtier_assets.redact import redact
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.tables import TABLES, TableSpec, get_table

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

#: The actions of one table, in order.
TABLE_ACTIONS: tuple[Action, ...] = ("compact", "expire_snapshots", "remove_orphans", "audit")


class MaintenanceFailedError(ColdtierError):
    """At least one maintenance action failed; ``rows`` holds every audit row of the run."""

    def __init__(self, rows: list[AuditRow]) -> None:
        self.rows = rows
        failed = [f"{row.table_name} {row.action}: {row.message}" for row in rows if row.failed]
        super().__init__(f"{len(failed)} maintenance action(s) failed: " + "; ".join(failed))


def raise_for_failures(rows: list[AuditRow]) -> None:
    """Raise :class:`MaintenanceFailedError` when any row failed."""
    if any(row.failed for row in rows):
        raise MaintenanceFailedError(rows)


class _TableRun:
    """The maintenance of one table: runs its actions in order and records one row per action."""

    def __init__(
        self,
        settings: Settings,
        warm: WarmTier,
        catalog: Catalog,
        spec: TableSpec,
        now: datetime,
        policy: MaintenancePolicy,
        record: Callable[[AuditRow], AuditRow],
        engine: MaintenanceEngine,
    ) -> None:
        self.settings, self.warm, self.catalog, self.spec = settings, warm, catalog, spec
        self.now, self.policy, self.record, self.engine = now, policy, record, engine
        self.identifier = (settings.namespace, spec.name)
        self.rows: list[AuditRow] = []
        self.before: Fingerprint | None = None
        self.start_snapshot_id: int | None = None
        self.before_error: Exception | None = None
        self.before_seconds = 0.0

    def _row(
        self,
        action: Action,
        started: datetime,
        seconds: float,
        outcome: Outcome,
        message: str,
        **counts: int | None,
    ) -> None:
        row = AuditRow(
            table_name=self.spec.name,
            action=action,
            started_at=started,
            duration_seconds=round(seconds, 3),
            outcome=outcome,
            message=message,
            **counts,
        )
        self.rows.append(self.record(row))

    def run(self) -> list[AuditRow]:
        """Fingerprint the table, then compact, expire, remove orphans and audit; one row each."""
        table = self.catalog.load_table(self.identifier)
        current = table.current_snapshot()
        if current is None:
            for action in TABLE_ACTIONS:
                self._row(action, datetime.now(UTC), 0.0, "skipped", "the table has no snapshot yet")
            return self.rows
        self.start_snapshot_id = current.snapshot_id
        clock = time.monotonic()
        try:
            self.before = fingerprints(self.settings, self.warm, table, self.spec, [current.snapshot_id])[
                current.snapshot_id
            ]
        except Exception as error:  # reported by the audit action at the end
            self.before_error = error
        self.before_seconds = time.monotonic() - clock  # counted in the audit action's duration
        job = TableJob(
            self.catalog, self.identifier, self.spec, self.now, self.policy, protect=self.start_snapshot_id
        )
        steps: list[tuple[Action, Callable[[], Step]]] = [
            ("compact", lambda: self.engine.compact(job)),
            ("expire_snapshots", lambda: self.engine.expire(job)),
            ("remove_orphans", lambda: self.engine.remove_orphans(job)),
            ("audit", self._audit),
        ]
        for index, (action, step) in enumerate(steps):
            started, clock = datetime.now(UTC), time.monotonic()
            try:
                outcome, message, counts = step()
            except Exception as error:
                log.exception("%s %s failed", self.spec.name, action)
                self._row(
                    action,
                    started,
                    time.monotonic() - clock,
                    "failed",
                    redact(f"{type(error).__name__}: {error}"),
                )
                for later, _ in steps[index + 1 :]:
                    self._row(later, datetime.now(UTC), 0.0, "skipped", f"skipped: {action} failed")
                break
            seconds = time.monotonic() - clock + (self.before_seconds if action == "audit" else 0.0)
            self._row(action, started, seconds, outcome, message, **counts)
        return self.rows

    def _audit(self) -> Step:
        if self.before is None:
            raise RuntimeError(f"could not fingerprint the table before maintenance: {self.before_error}")
        table = self.catalog.load_table(self.identifier)
        result: AuditResult = audit_table(self.settings, self.warm, table, self.spec, self.before)
        state = table_state(table)
        counts: dict[str, int | None] = {
            "rows_before": result.before.rows,
            "rows_after": result.after.rows,
            "files_after": state.files,
            "bytes_after": state.bytes,
        }
        if not result.conclusive:
            return "skipped", result.message, counts
        if not result.ok:
            raise AuditMismatchError(result.message)
        return "success", result.message, counts


class AuditMismatchError(ColdtierError):
    """The table's rows or checksum changed across maintenance."""


def run_maintenance(
    settings: Settings,
    warm: WarmTier,
    catalog: Catalog,
    tables: Iterable[str] | None = None,
    now: datetime | None = None,
    *,
    policy: MaintenancePolicy | None = None,
    write_log: bool = True,
    spark: SparkSession | None = None,
) -> list[AuditRow]:
    """Maintain ``tables`` (default: every registry table); returns one audit row per action.

    ``now`` decides which snapshots and files are old enough (default: the current time). Rows are
    written to the audit log as they happen (unless ``write_log`` is false). Nothing is raised for a
    failed action: check the rows, or call :func:`raise_for_failures`. With a ``spark`` session
    (whose catalog ``settings.catalog_name`` is coldtier's, see
    :func:`~coldtier_assets.resources.spark.build_spark_session`) compaction, expiry and orphan
    removal run as Iceberg's Spark procedures; without one, in this process with pyiceberg.
    """
    now = now or datetime.now(UTC)
    policy = policy or MaintenancePolicy()
    engine: MaintenanceEngine = (
        SparkEngine(spark, settings.catalog_name) if spark is not None else PyicebergEngine()
    )
    specs = [get_table(name) for name in tables] if tables else list(TABLES)

    def record(row: AuditRow) -> AuditRow:
        return write_audit_row(settings.catalog_uri, row) if write_log else row

    rows: list[AuditRow] = []
    for spec in specs:
        try:
            rows += _TableRun(settings, warm, catalog, spec, now, policy, record, engine).run()
        except Exception as error:  # e.g. the table cannot be loaded at all
            log.exception("maintenance of %s failed", spec.name)
            rows.append(
                record(
                    AuditRow(
                        table_name=spec.name,
                        action="compact",
                        started_at=datetime.now(UTC),
                        duration_seconds=0.0,
                        outcome="failed",
                        message=redact(f"{type(error).__name__}: {error}"),
                    )
                )
            )
    return rows
