"""The three table-changing maintenance actions, as an engine: pyiceberg in process, or Spark.

An engine compacts, expires snapshots and removes orphan files of one table and describes each
action as an audit-log step (outcome, message, counts). The runner fingerprints the table before,
calls the engine, and audits after, whichever engine ran. :class:`PyicebergEngine` is coldtier's own
implementation (:mod:`.compaction`, :mod:`.expiry`, :mod:`.orphans`);
:class:`~coldtier_assets.maintenance.spark_engine.SparkEngine` runs Iceberg's Spark procedures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from coldtier_assets.maintenance.audit_log import Outcome
from coldtier_assets.maintenance.compaction import CompactionResult, compact_table
from coldtier_assets.maintenance.expiry import ExpiryResult, expire_snapshots
from coldtier_assets.maintenance.orphans import OrphanResult, remove_orphan_files
from coldtier_assets.maintenance.policy import MaintenancePolicy, describe_age
from coldtier_assets.maintenance.state import table_state
from coldtier_assets.tables import TableSpec

#: What one action reports: its outcome, a one-line message and the audit-log counts.
Step = tuple[Outcome, str, dict[str, int | None]]

NOTHING_TO_COMPACT = "nothing to compact: no partition has two or more small files"


@dataclass(frozen=True)
class TableJob:
    """One table's maintenance: where it is, the clock, the policy and the snapshot to keep for the audit."""

    catalog: Catalog
    identifier: tuple[str, str]
    spec: TableSpec
    now: datetime
    policy: MaintenancePolicy
    protect: int | None = None

    def load(self) -> Table:
        """The table, freshly loaded."""
        return self.catalog.load_table(self.identifier)


class MaintenanceEngine(Protocol):
    """Compaction, snapshot expiry and orphan removal of one table."""

    name: str

    def compact(self, job: TableJob) -> Step:
        """Bin-pack the small files of the partitions that need it."""
        ...

    def expire(self, job: TableJob) -> Step:
        """Expire old snapshots, keeping the policy's minimum, the ledger and ``job.protect``."""
        ...

    def remove_orphans(self, job: TableJob) -> Step:
        """Delete unreferenced files older than the policy's minimum age."""
        ...


def state_counts(before: Table, after: Table) -> dict[str, int | None]:
    """The audit-log counts of two versions of a table: data files, bytes and rows of each."""
    first, second = table_state(before), table_state(after)
    return {
        "files_before": first.files,
        "files_after": second.files,
        "bytes_before": first.bytes,
        "bytes_after": second.bytes,
        "rows_before": first.rows,
        "rows_after": second.rows,
    }


def orphan_counts(
    stored_files: int, stored_bytes: int, files_after: int, bytes_after: int
) -> dict[str, int | None]:
    """The audit-log counts of orphan removal: every file stored under the table location."""
    return {
        "files_before": stored_files,
        "files_after": files_after,
        "bytes_before": stored_bytes,
        "bytes_after": bytes_after,
    }


class PyicebergEngine:
    """coldtier's own maintenance with pyiceberg, in the calling process."""

    name = "pyiceberg"

    def compact(self, job: TableJob) -> Step:
        """Compact with :func:`~coldtier_assets.maintenance.compaction.compact_table` (sorted, verified)."""
        before = job.load()
        result: CompactionResult = compact_table(
            job.catalog,
            job.identifier,
            job.policy,
            sort_columns=(job.spec.time_column, *job.spec.natural_key),
        )
        if result.partitions:
            parts = ", ".join(
                f"{p.partition}: {p.files_before}→{p.files_after} files" for p in result.partitions
            )
            message = f"compacted {len(result.partitions)} partition(s) ({parts})"
        else:
            message = NOTHING_TO_COMPACT
        if result.skipped:
            message += "; left alone: " + "; ".join(result.skipped)
        return "success", message, state_counts(before, job.load())

    def expire(self, job: TableJob) -> Step:
        """Expire with :func:`~coldtier_assets.maintenance.expiry.expire_snapshots` (metadata only)."""
        before = job.load()
        protect = [job.protect] if job.protect is not None else []
        result: ExpiryResult = expire_snapshots(
            job.catalog, job.identifier, job.now, job.policy, protect=protect
        )
        message = (
            f"expired {len(result.expired)} snapshot(s) older than {describe_age(job.policy.snapshot_max_age)}; "
            f"{result.snapshots_after} kept; watermark {result.ledger.watermark}"
        )
        return "success", message, state_counts(before, job.load())

    def remove_orphans(self, job: TableJob) -> Step:
        """Remove orphans with :func:`~coldtier_assets.maintenance.orphans.remove_orphan_files`."""
        result: OrphanResult = remove_orphan_files(job.catalog, job.identifier, job.now, job.policy)
        age = describe_age(job.policy.orphan_min_age)
        message = (
            f"removed {len(result.removed)} unreferenced file(s) older than {age}; "
            f"{len(result.kept_too_young)} younger unreferenced file(s) kept"
        )
        counts = orphan_counts(
            result.stored_files, result.stored_bytes, result.files_after, result.bytes_after
        )
        return "success", message, counts
