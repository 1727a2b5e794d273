"""The daily maintenance of the cold tables: compact → expire snapshots → remove orphans → audit.

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

from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from coldtier_assets.config import Settings
from coldtier_assets.errors import ColdtierError
from coldtier_assets.maintenance.audit import AuditResult, Fingerprint, audit_table, fingerprints
from coldtier_assets.maintenance.audit_log import Action, AuditRow, Outcome, write_audit_row
from coldtier_assets.maintenance.compaction import CompactionResult, compact_table
from coldtier_assets.maintenance.expiry import ExpiryResult, expire_snapshots
from coldtier_assets.maintenance.orphans import OrphanResult, remove_orphan_files
from coldtier_assets.maintenance.policy import MaintenancePolicy, describe_age
from coldtier_assets.maintenance.state import table_state
from coldtier_assets.redact import redact
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.tables import TABLES, TableSpec, get_table

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
    ) -> None:
        self.settings, self.warm, self.catalog, self.spec = settings, warm, catalog, spec
        self.now, self.policy, self.record = now, policy, record
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
        steps: list[tuple[Action, Callable[[], tuple[Outcome, str, dict[str, int | None]]]]] = [
            ("compact", self._compact),
            ("expire_snapshots", self._expire),
            ("remove_orphans", self._orphans),
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

    @staticmethod
    def _state_counts(before_table: Table, after_table: Table) -> dict[str, int | None]:
        before, after = table_state(before_table), table_state(after_table)
        return {
            "files_before": before.files,
            "files_after": after.files,
            "bytes_before": before.bytes,
            "bytes_after": after.bytes,
            "rows_before": before.rows,
            "rows_after": after.rows,
        }

    def _compact(self) -> tuple[Outcome, str, dict[str, int | None]]:
        before = self.catalog.load_table(self.identifier)
        result: CompactionResult = compact_table(
            self.catalog,
            self.identifier,
            self.policy,
            sort_columns=(self.spec.time_column, *self.spec.natural_key),
        )
        after = self.catalog.load_table(self.identifier)
        if result.partitions:
            parts = ", ".join(
                f"{p.partition}: {p.files_before}→{p.files_after} files" for p in result.partitions
            )
            message = f"compacted {len(result.partitions)} partition(s) ({parts})"
        else:
            message = "nothing to compact: no partition has two or more small files"
        if result.skipped:
            message += "; left alone: " + "; ".join(result.skipped)
        return "success", message, self._state_counts(before, after)

    def _expire(self) -> tuple[Outcome, str, dict[str, int | None]]:
        before = self.catalog.load_table(self.identifier)
        protect = [self.start_snapshot_id] if self.start_snapshot_id is not None else []
        result: ExpiryResult = expire_snapshots(
            self.catalog, self.identifier, self.now, self.policy, protect=protect
        )
        after = self.catalog.load_table(self.identifier)
        message = (
            f"expired {len(result.expired)} snapshot(s) older than {describe_age(self.policy.snapshot_max_age)}; "
            f"{result.snapshots_after} kept; watermark {result.ledger.watermark}"
        )
        return "success", message, self._state_counts(before, after)

    def _orphans(self) -> tuple[Outcome, str, dict[str, int | None]]:
        result: OrphanResult = remove_orphan_files(self.catalog, self.identifier, self.now, self.policy)
        age = describe_age(self.policy.orphan_min_age)
        message = (
            f"removed {len(result.removed)} unreferenced file(s) older than {age}; "
            f"{len(result.kept_too_young)} younger unreferenced file(s) kept"
        )
        counts: dict[str, int | None] = {
            "files_before": result.stored_files,
            "files_after": result.files_after,
            "bytes_before": result.stored_bytes,
            "bytes_after": result.bytes_after,
        }
        return "success", message, counts

    def _audit(self) -> tuple[Outcome, str, dict[str, int | None]]:
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
) -> list[AuditRow]:
    """Maintain ``tables`` (default: every registry table); returns one audit row per action.

    ``now`` decides which snapshots and files are old enough (default: the current time). Rows are
    written to the audit log as they happen (unless ``write_log`` is false). Nothing is raised for a
    failed action: check the rows, or call :func:`raise_for_failures`.
    """
    now = now or datetime.now(UTC)
    policy = policy or MaintenancePolicy()
    specs = [get_table(name) for name in tables] if tables else list(TABLES)

    def record(row: AuditRow) -> AuditRow:
        return write_audit_row(settings.catalog_uri, row) if write_log else row

    rows: list[AuditRow] = []
    for spec in specs:
        try:
            rows += _TableRun(settings, warm, catalog, spec, now, policy, record).run()
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
