"""Bin-pack compaction: rewrite a partition's small files into few large ones, one commit per partition.

For each partition with two or more small files (smaller than ``small_file_ratio`` times the target), the
small files are packed first-fit-decreasing into bins of at most the target size; each bin is read,
sorted and written as one file. The rewrite is verified before it is committed: the new files hold
exactly the rows of the replaced ones (row count, then every value, compared after reading the new
files back). The commit is **one** Iceberg ``overwrite`` snapshot that deletes exactly the replaced
files and adds the new ones. The ledger of committed windows is the ``coldtier.ledger`` table
property, which every commit carries forward; on a table not yet migrated from the summary-only
ledger, the compaction snapshot carries the summary ledger forward as the previous version did.

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
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan, _dataframe_to_data_files
from pyiceberg.manifest import DataFile
from pyiceberg.table import FileScanTask, Table, TableProperties
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.typedef import Record

from coldtier_assets.errors import ColdtierError
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

log = logging.getLogger(__name__)

#: Snapshot-summary key marking a snapshot written by maintenance (value: the action).
MAINTENANCE_KEY = PREFIX + "maintenance"
#: Snapshot-summary key identifying one compaction commit (to resolve an unknown commit outcome).
COMPACTION_ID_KEY = PREFIX + "compaction-id"

PartitionKey = tuple[int, Record]


class CompactionError(ColdtierError):
    """A compaction could not be completed or failed its verification; nothing was committed."""


@dataclass(frozen=True)
class PartitionPlan:
    """The small files of one partition, packed into bins (each bin becomes one new file)."""

    spec_id: int
    partition: Record
    label: str
    bins: tuple[tuple[DataFile, ...], ...]

    @property
    def key(self) -> PartitionKey:
        """Identifies the partition across metadata versions."""
        return (self.spec_id, self.partition)

    @property
    def inputs(self) -> frozenset[DataFile]:
        """Every file this plan replaces."""
        return frozenset(file for files in self.bins for file in files)


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
    def files_replaced(self) -> int:
        """Small files removed in total."""
        return sum(part.files_before for part in self.partitions)

    @property
    def files_written(self) -> int:
        """New files added in total."""
        return sum(part.files_after for part in self.partitions)


def _bin_pack(files: Iterable[DataFile], capacity: int) -> list[list[DataFile]]:
    """First-fit decreasing: bins of at most ``capacity`` bytes (a larger file gets a bin of its own)."""
    bins: list[list[DataFile]] = []
    sizes: list[int] = []
    for file in sorted(files, key=lambda f: (-f.file_size_in_bytes, f.file_path)):
        for index, used in enumerate(sizes):
            if used + file.file_size_in_bytes <= capacity:
                bins[index].append(file)
                sizes[index] += file.file_size_in_bytes
                break
        else:
            bins.append([file])
            sizes.append(file.file_size_in_bytes)
    return bins


def plan_compaction(table: Table, policy: MaintenancePolicy) -> tuple[list[PartitionPlan], list[str]]:
    """Partitions of the current snapshot worth compacting, and why others were left alone."""
    snapshot = table.current_snapshot()
    if snapshot is None:
        return [], []
    skipped: list[str] = []
    tasks = list(table.scan(snapshot_id=snapshot.snapshot_id).plan_files())
    by_partition: dict[PartitionKey, list[FileScanTask]] = defaultdict(list)
    for task in tasks:
        by_partition[(task.file.spec_id, task.file.partition)].append(task)
    default_spec = table.metadata.default_spec_id
    schema = table.schema()
    plans = []
    for (spec_id, partition), partition_tasks in by_partition.items():
        label = table.metadata.specs()[spec_id].partition_to_path(partition, schema) or "<unpartitioned>"
        small = [t.file for t in partition_tasks if t.file.file_size_in_bytes < policy.small_file_bytes]
        if len(small) < 2:
            continue
        if spec_id != default_spec:
            skipped.append(f"{label}: files of an older partition spec ({spec_id}) are left alone")
            continue
        if any(t.delete_files for t in partition_tasks):
            skipped.append(f"{label}: has delete files (merge-on-read), which compaction does not rewrite")
            continue
        bins = tuple(tuple(b) for b in _bin_pack(small, policy.target_file_size_bytes) if len(b) >= 2)
        if bins:
            plans.append(PartitionPlan(spec_id, partition, label, bins))
    plans.sort(key=lambda plan: plan.label)
    return plans, skipped


def _read(table: Table, files: Sequence[DataFile]) -> pa.Table:
    return ArrowScan(
        table_metadata=table.metadata, io=table.io, projected_schema=table.schema(), row_filter=AlwaysTrue()
    ).to_table(tasks=[FileScanTask(file) for file in files])


def _sorted(data: pa.Table, sort_columns: Sequence[str]) -> pa.Table:
    """Rows ordered by ``sort_columns`` first, then by every other column (a total, repeatable order)."""
    names = [*(c for c in sort_columns if c in data.column_names)]
    names += [c for c in data.column_names if c not in names]
    return data.sort_by([(name, "ascending") for name in names])


def _one_file_metadata(metadata: TableMetadata, data: pa.Table) -> TableMetadata:
    """Table metadata whose target file size makes the writer put ``data`` into one file."""
    target = str(max(data.nbytes * 2, 1) + 1024 * 1024)
    properties = {**metadata.properties, TableProperties.WRITE_TARGET_FILE_SIZE_BYTES: target}
    return metadata.model_copy(update={"properties": properties})


def _discard(table: Table, files: Iterable[DataFile]) -> None:
    for file in files:
        try:
            table.io.delete(file.file_path)
        except Exception:  # best effort: orphan-file removal deletes what is left
            log.warning("could not delete uncommitted compaction file %s", file.file_path, exc_info=True)


def rewrite_partition(table: Table, plan: PartitionPlan, sort_columns: Sequence[str] = ()) -> list[DataFile]:
    """Write the new files of ``plan`` (not committed) and verify they hold exactly the old rows."""
    written: list[DataFile] = []
    try:
        for files in plan.bins:
            data = _sorted(_read(table, files), sort_columns)
            expected = sum(file.record_count for file in files)
            if data.num_rows != expected:
                raise CompactionError(
                    f"{plan.label}: read {data.num_rows} rows from {len(files)} files whose metadata says {expected}"
                )
            new = list(
                _dataframe_to_data_files(
                    table_metadata=_one_file_metadata(table.metadata, data),
                    df=data,
                    io=table.io,
                    write_uuid=uuid.uuid4(),
                )
            )
            for file in new:
                file.spec_id = table.metadata.default_spec_id  # set by manifests once committed
            written += new
            _verify_rewrite(table, plan, data, new)
            del data  # one bin in memory at a time
    except BaseException:
        _discard(table, written)
        raise
    return written


def _verify_rewrite(table: Table, plan: PartitionPlan, expected: pa.Table, new: list[DataFile]) -> None:
    """The new files are in the plan's partition and hold exactly ``expected`` (read back from storage)."""
    for file in new:
        if (file.spec_id, file.partition) != plan.key:
            raise CompactionError(f"{plan.label}: a rewritten file landed in partition {file.partition}")
    if sum(file.record_count for file in new) != expected.num_rows:
        raise CompactionError(f"{plan.label}: rewritten files hold a different number of rows")
    actual = _read(table, new)
    if actual.equals(expected):  # the writer keeps the row order: the common, cheap case
        return
    if not _sorted(actual, expected.column_names).equals(_sorted(expected, expected.column_names)):
        raise CompactionError(f"{plan.label}: rewritten files differ from the files they replace")


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
            _discard(table, self.outputs)
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
            _discard(self.table, self.outputs)


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
