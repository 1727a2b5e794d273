"""Bin-pack compaction with pyiceberg: rewrite a partition's small files, one commit per partition.

The partitions come from :mod:`.compaction_plan` (two or more small files, packed into bins) and the
verified new files from :mod:`.compaction_rewrite`. The commit is **one** Iceberg ``overwrite``
snapshot that deletes exactly the replaced files and adds the new ones. The ledger of committed
windows is the ``coldtier.ledger`` table property, which every commit carries forward; on a table not
yet migrated from the summary-only ledger, the compaction snapshot carries the summary ledger forward
as the previous version did.

Concurrency with window commits (an offload re-running a window of the same partition): the commit
requires the main branch to be where it was planned (pyiceberg's ``AssertRefSnapshotId``), and
pyiceberg's own retry is disabled (it would replay a stale ledger). On a conflict the partition is
re-planned on fresh metadata: if every replaced file is still live, the written files are committed
again on top of the new head (whatever the other commit added stays); if one of them is gone (the
window was re-copied), the written files are discarded and the partition is planned and rewritten
from its current files. So a compaction can neither bring back deleted rows nor drop new ones.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot

from coldtier_assets.maintenance.compaction_plan import PartitionKey, plan_compaction
from coldtier_assets.maintenance.compaction_rewrite import CompactionError, discard, rewrite_partition
from coldtier_assets.maintenance.policy import MaintenancePolicy
from coldtier_assets.maintenance.state import live_data_files
from coldtier_assets.offload.retry import OutcomeUnknownError, retry_conflicts
from coldtier_assets.offload.sink import (
    LEDGER_KEY,
    PREFIX,
    _without_internal_retries,
    coldtier_property,
    has_ledger_property,
    newest_coldtier_snapshot,
)

__all__ = ["COMPACTION_ID_KEY", "MAINTENANCE_KEY", "CompactionError", "CompactionResult", "compact_table"]

log = logging.getLogger(__name__)

#: Snapshot-summary key marking a snapshot written by maintenance (value: the action).
MAINTENANCE_KEY = PREFIX + "maintenance"
#: Snapshot-summary key identifying one compaction commit (to resolve an unknown commit outcome).
COMPACTION_ID_KEY = PREFIX + "compaction-id"


@dataclass(frozen=True)
class PartitionCompaction:
    """One committed partition rewrite."""

    partition: str
    files_before: int
    files_after: int
    bytes_before: int
    bytes_after: int
    rows: int
    snapshot_id: int
    attempts: int


@dataclass
class CompactionResult:
    """Everything one :func:`compact_table` call committed."""

    table: str
    partitions: list[PartitionCompaction] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def file_counts(self) -> tuple[int, int]:
        """(small files removed, new files added) over every compacted partition."""
        return sum(p.files_before for p in self.partitions), sum(p.files_after for p in self.partitions)


def _ledger_property(table: Table) -> str | None:
    """The summary ledger to carry forward (none once the table property holds the ledger)."""
    if has_ledger_property(table):
        return None
    snapshot = newest_coldtier_snapshot(table)
    return coldtier_property(snapshot, LEDGER_KEY) if snapshot is not None else None


def _find_compaction(table: Table, compaction_id: str) -> Snapshot | None:
    for snapshot in reversed(table.metadata.snapshots):
        if coldtier_property(snapshot, COMPACTION_ID_KEY) == compaction_id:
            return snapshot
    return None


def _check_committed(table: Table, snapshot: Snapshot, label: str) -> None:
    """The compaction snapshot kept its parent's row total and carries its parent's ledger."""
    parent_id = snapshot.parent_snapshot_id
    parent = table.metadata.snapshot_by_id(parent_id) if parent_id is not None else None
    if parent is None or parent.summary is None or snapshot.summary is None:
        return
    before, after = parent.summary.get("total-records"), snapshot.summary.get("total-records")
    if before is not None and after is not None and before != after:
        raise CompactionError(f"{label}: committed compaction changed total-records from {before} to {after}")
    if has_ledger_property(table):
        return
    ledger = None
    ancestor: Snapshot | None = parent
    while ancestor is not None and ledger is None:
        ledger = coldtier_property(ancestor, LEDGER_KEY)
        grandparent = ancestor.parent_snapshot_id
        ancestor = table.metadata.snapshot_by_id(grandparent) if grandparent is not None else None
    if coldtier_property(snapshot, LEDGER_KEY) != ledger:
        raise CompactionError(f"{label}: committed compaction did not carry the ledger forward")


def compact_partition(
    catalog: Catalog,
    identifier: tuple[str, str],
    key: PartitionKey,
    policy: MaintenancePolicy,
    *,
    sort_columns: Sequence[str] = (),
    before_commit: Callable[[int], None] | None = None,
) -> PartitionCompaction | None:
    """Compact one partition in one commit, re-planning on conflicts; ``None`` when nothing is left to do.

    ``before_commit(attempt)`` is called right before each commit attempt (instrumentation and tests).
    """
    compaction = _PartitionCompactionAttempts(catalog, identifier, key, policy, sort_columns, before_commit)
    try:
        return retry_conflicts(
            compaction.attempt,
            attempts=policy.max_commit_attempts,
            conflicts=(CommitFailedException, ValidationException, OutcomeUnknownError),
            what=f"the compaction of {'.'.join(identifier)} partition {key[1]}",
            error=CompactionError,
        )
    except BaseException:
        compaction.discard_unless_uncertain()
        raise


class _PartitionCompactionAttempts:
    """One partition's compaction across commit attempts: its plan, rewritten files and doubts."""

    def __init__(
        self,
        catalog: Catalog,
        identifier: tuple[str, str],
        key: PartitionKey,
        policy: MaintenancePolicy,
        sort_columns: Sequence[str],
        before_commit: Callable[[int], None] | None,
    ) -> None:
        self.catalog, self.identifier, self.key, self.policy = catalog, identifier, key, policy
        self.sort_columns, self.before_commit = sort_columns, before_commit
        self.compaction_id = str(uuid.uuid4())
        self.inputs: frozenset[DataFile] = frozenset()
        self.outputs: list[DataFile] = []
        self.label = str(key[1])
        self.table: Table | None = None
        # True while a commit of ``outputs`` may have landed: they must then never be deleted here
        # (orphan-file removal deletes them later if they turn out unreferenced)
        self.uncertain = False

    def attempt(self, number: int) -> PartitionCompaction | None:
        """Plan (or re-plan) and commit once; raises on a conflict or an unknown outcome."""
        table = self.table = self.catalog.load_table(self.identifier)
        if self.uncertain:
            landed = _find_compaction(table, self.compaction_id)
            if landed is not None:
                return _result(table, landed, self.label, self.inputs, self.outputs, number - 1)
            self.uncertain = False  # the catalog answers and our commit is not there: it did not land
        if self.outputs and not self.inputs <= set(live_data_files(table)):
            log.info("%s %s: replaced files changed concurrently; re-planning", self.identifier, self.label)
            discard(table, self.outputs)
            self.inputs, self.outputs = frozenset(), []
        if not self.outputs:
            plan = next((p for p in plan_compaction(table, self.policy)[0] if p.key == self.key), None)
            if plan is None:
                return None
            self.label = plan.label
            self.inputs, self.outputs = plan.inputs, rewrite_partition(table, plan, self.sort_columns)
        if self.before_commit is not None:
            self.before_commit(number)
        committed = self._commit(table)
        snapshot = committed.current_snapshot()
        assert snapshot is not None
        return _result(committed, snapshot, self.label, self.inputs, self.outputs, number)

    def _commit(self, table: Table) -> Table:
        properties = {MAINTENANCE_KEY: "compaction", COMPACTION_ID_KEY: self.compaction_id}
        ledger = _ledger_property(table)
        if ledger is not None:
            properties[LEDGER_KEY] = ledger
        transaction = _without_internal_retries(table).transaction()
        try:
            with transaction.update_snapshot(snapshot_properties=properties).overwrite() as overwrite:
                for file in self.inputs:
                    overwrite.delete_data_file(file)
                for file in self.outputs:
                    overwrite.append_data_file(file)
            self.uncertain = True
            return transaction.commit_transaction()
        except (CommitFailedException, ValidationException):  # did not land: re-plan
            self.uncertain = False
            raise
        except Exception as error:  # outcome unknown: the next attempt looks for our compaction id
            log.warning("compaction of %s %s: commit outcome unknown: %s", self.identifier, self.label, error)
            raise OutcomeUnknownError(str(error)) from error

    def discard_unless_uncertain(self) -> None:
        """Delete the rewritten files, unless a commit of them may have landed."""
        if self.outputs and self.table is not None and not self.uncertain:
            discard(self.table, self.outputs)


def _result(
    table: Table,
    snapshot: Snapshot,
    label: str,
    inputs: frozenset[DataFile],
    outputs: list[DataFile],
    attempts: int,
) -> PartitionCompaction:
    """Describe a landed compaction, after checking it kept the row total and the ledger."""
    _check_committed(table, snapshot, label)
    return PartitionCompaction(
        partition=label,
        files_before=len(inputs),
        files_after=len(outputs),
        bytes_before=sum(file.file_size_in_bytes for file in inputs),
        bytes_after=sum(file.file_size_in_bytes for file in outputs),
        rows=sum(file.record_count for file in inputs),
        snapshot_id=snapshot.snapshot_id,
        attempts=attempts,
    )


def compact_table(
    catalog: Catalog,
    identifier: tuple[str, str],
    policy: MaintenancePolicy | None = None,
    *,
    sort_columns: Sequence[str] = (),
    before_commit: Callable[[int], None] | None = None,
) -> CompactionResult:
    """Compact every partition of the table that has two or more small files (one commit each)."""
    policy = policy or MaintenancePolicy()
    table = catalog.load_table(identifier)
    plans, skipped = plan_compaction(table, policy)
    result = CompactionResult(table=".".join(identifier), skipped=skipped)
    for plan in plans:
        done = compact_partition(
            catalog, identifier, plan.key, policy, sort_columns=sort_columns, before_commit=before_commit
        )
        if done is not None:
            result.partitions.append(done)
            log.info(
                "compacted %s %s: %d files -> %d (%d rows), snapshot %d",
                result.table,
                done.partition,
                done.files_before,
                done.files_after,
                done.rows,
                done.snapshot_id,
            )
    return result
