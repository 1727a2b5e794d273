"""Maintenance with Iceberg's own Spark procedures, through the catalog pyiceberg writes.

* **Compaction**: ``rewrite_data_files`` with the ``binpack`` strategy and the policy's target size
  (128 MB by default), limited by ``where`` to the partitions coldtier's own planning picks
  (:func:`~coldtier_assets.maintenance.compaction_plan.plan_compaction`: two or more small files).
  Iceberg commits it as one ``replace`` snapshot and validates that every replaced file is still
  live, so a window re-copied meanwhile makes it fail rather than bring old rows back.
* **Expiry**: ``expire_snapshots`` older than the policy's age (7 days) with ``retain_last`` the
  policy's minimum (5). The snapshot the audit fingerprinted first is kept by moving ``older_than``
  back to its timestamp when needed. Spark also deletes the files only expired snapshots used.
* **Orphan removal**: ``remove_orphan_files`` older than the policy's age (3 days; Iceberg itself
  refuses less than 24 hours). A dry run comes first: every file it would delete is checked against
  the files the committed metadata references (read after Spark's listing), and one referenced
  file refuses the whole removal, before anything is deleted.

Spark keeps table properties, so the ledger (``coldtier.ledger``) survives; a table whose ledger is
still only in snapshot summaries is migrated first, and the ledger is compared before and after each
action. Spark's snapshots carry no coldtier summary; the audit recognises a compaction by Iceberg's
``replace`` operation and proves it with the row/checksum fingerprints as for pyiceberg's.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from coldtier_assets.errors import ColdtierError
from coldtier_assets.maintenance.actions import (
    NOTHING_TO_COMPACT,
    Step,
    TableJob,
    orphan_counts,
    state_counts,
)
from coldtier_assets.maintenance.compaction_plan import partition_filter, plan_compaction
from coldtier_assets.maintenance.orphans import (
    OrphanRemovalError,
    file_io_path,
    is_referenced,
    known_spellings,
    list_table_files,
    referenced_files,
)
from coldtier_assets.maintenance.policy import describe_age, orphan_age_problem
from coldtier_assets.offload.sink import migrate_ledger, read_ledger
from coldtier_assets.offload.windows import Ledger, utc

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SparkMaintenanceError(ColdtierError):
    """A Spark maintenance procedure changed what it must not (rows, the ledger) or was refused."""


def spark_timestamp(moment: datetime) -> str:
    """A Spark SQL ``TIMESTAMP`` literal of a UTC instant, to the millisecond (Iceberg's precision)."""
    return f"TIMESTAMP '{utc(moment):%Y-%m-%d %H:%M:%S}.{utc(moment).microsecond // 1000:03d}'"


def _map(options: dict[str, str]) -> str:
    return "map(" + ", ".join(f"'{key}', '{value}'" for key, value in options.items()) + ")"


class SparkEngine:
    """Compaction, expiry and orphan removal as ``CALL <catalog>.system.<procedure>(…)`` on a session."""

    name = "spark"

    def __init__(self, spark: SparkSession, catalog_name: str) -> None:
        self.spark, self.catalog_name = spark, catalog_name

    def _call(self, procedure: str, job: TableJob, **arguments: str) -> list[Any]:
        table = ".".join(job.identifier)
        named = ", ".join(
            [f"table => '{table}'", *(f"{name} => {value}" for name, value in arguments.items())]
        )
        sql = f"CALL `{self.catalog_name}`.system.{procedure}({named})"
        log.info("spark: %s", sql)
        return self.spark.sql(sql).collect()

    def _ledger_kept(self, job: TableJob, ledger: Ledger, action: str) -> Ledger:
        after = read_ledger(job.load())
        if after != ledger:
            raise SparkMaintenanceError(
                f"{'.'.join(job.identifier)}: the ledger changed across Spark's {action}"
            )
        return after

    def compact(self, job: TableJob) -> Step:
        """``rewrite_data_files`` (binpack) on the partitions with two or more small files."""
        migrate_ledger(job.catalog, job.identifier)  # Spark carries the property, not summaries
        before = job.load()
        plans, skipped = plan_compaction(before, job.policy)
        note = "; left alone: " + "; ".join(skipped) if skipped else ""
        if not plans:
            return "success", NOTHING_TO_COMPACT + note, state_counts(before, before)
        ledger = read_ledger(before)
        options = {
            "target-file-size-bytes": str(job.policy.target_file_size_bytes),
            "min-file-size-bytes": str(job.policy.small_file_bytes),
            "min-input-files": "2",
        }
        where = partition_filter(before, plans).replace('"', '\\"')
        (result,) = self._call(
            "rewrite_data_files", job, strategy="'binpack'", options=_map(options), where=f'"{where}"'
        )
        after = job.load()
        counts = state_counts(before, after)
        if counts["rows_before"] != counts["rows_after"]:
            raise SparkMaintenanceError(
                f"{'.'.join(job.identifier)}: Spark's rewrite_data_files changed the row count from "
                f"{counts['rows_before']} to {counts['rows_after']}"
            )
        self._ledger_kept(job, ledger, "rewrite_data_files")
        labels = ", ".join(plan.label for plan in plans)
        message = (
            f"Spark rewrite_data_files (binpack) on {len(plans)} partition(s) ({labels}): "
            f"{result['rewritten_data_files_count']}→{result['added_data_files_count']} files"
        )
        return "success", message + note, counts

    def expire(self, job: TableJob) -> Step:
        """``expire_snapshots`` older than the policy's age, ``retain_last`` its minimum, audit snapshot kept."""
        migrate_ledger(job.catalog, job.identifier)  # the summaries are about to go
        before = job.load()
        ledger = read_ledger(before)
        older_than = utc(job.now) - job.policy.snapshot_max_age
        protected = before.metadata.snapshot_by_id(job.protect) if job.protect is not None else None
        if protected is not None:  # snapshots strictly older than older_than go: keep the audit's
            older_than = min(older_than, _EPOCH + timedelta(milliseconds=protected.timestamp_ms))
        self._call(
            "expire_snapshots",
            job,
            older_than=spark_timestamp(older_than),
            retain_last=str(job.policy.min_snapshots_to_keep),
        )
        after = job.load()
        self._ledger_kept(job, ledger, "expire_snapshots")
        expired = len(before.metadata.snapshots) - len(after.metadata.snapshots)
        message = (
            f"Spark expire_snapshots: expired {expired} snapshot(s) older than "
            f"{describe_age(job.policy.snapshot_max_age)} (retain_last {job.policy.min_snapshots_to_keep}); "
            f"{len(after.metadata.snapshots)} kept; watermark {ledger.watermark}"
        )
        return "success", message, state_counts(before, after)

    def remove_orphans(self, job: TableJob) -> Step:
        """``remove_orphan_files`` older than the policy's age, after a dry run checked against the metadata."""
        if (problem := orphan_age_problem(job.policy.orphan_min_age)) is not None:
            raise OrphanRemovalError(problem)
        table = job.load()
        stored = list_table_files(table)
        older_than = spark_timestamp(utc(job.now) - job.policy.orphan_min_age)
        candidates = [
            row["orphan_file_location"]
            for row in self._call("remove_orphan_files", job, older_than=older_than, dry_run="true")
        ]
        table = job.load()  # the committed metadata as of after Spark's listing
        known = known_spellings(referenced_files(table))  # the same spellings rule as the pyiceberg engine
        wrong = [location for location in candidates if is_referenced(file_io_path(table, location), known)]
        if wrong:
            raise OrphanRemovalError(
                f"Spark's remove_orphan_files would delete {len(wrong)} file(s) the table references, "
                f"e.g. {wrong[0]}: refused, nothing deleted"
            )
        removed = [
            row["orphan_file_location"]
            for row in self._call("remove_orphan_files", job, older_than=older_than)
        ]
        unchecked = sorted(set(removed) - set(candidates))
        if unchecked:
            log.warning(
                "Spark removed %d orphan file(s) found after its dry run: %s", len(unchecked), unchecked
            )
        left = list_table_files(job.load())
        message = (
            f"Spark remove_orphan_files: removed {len(removed)} unreferenced file(s) older than "
            f"{describe_age(job.policy.orphan_min_age)}"
        )
        counts = orphan_counts(
            len(stored), sum(file.size for file in stored), len(left), sum(file.size for file in left)
        )
        return "success", message, counts
