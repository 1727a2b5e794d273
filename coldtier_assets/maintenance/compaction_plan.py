"""Which partitions compaction rewrites: those with two or more small files, packed into bins.

A file is small when it is under ``small_file_ratio`` times the target size (Iceberg's
``min-file-size-bytes`` default is the same 75 %). The small files of a partition are packed
first-fit-decreasing into bins of at most the target; a bin of two or more files becomes one new file.
Partitions of an older partition spec and partitions with delete files are left alone, with the reason.
Both engines use this plan: pyiceberg rewrites each bin itself, Spark's ``rewrite_data_files`` is
limited to the planned partitions (:func:`partition_filter`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from pyiceberg.manifest import DataFile
from pyiceberg.table import FileScanTask, Table
from pyiceberg.transforms import DayTransform, HourTransform, MonthTransform, YearTransform
from pyiceberg.typedef import Record

from coldtier_assets.maintenance.policy import MaintenancePolicy

PartitionKey = tuple[int, Record]


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


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _add_months(months: int) -> datetime:
    return datetime(1970 + months // 12, months % 12 + 1, 1, tzinfo=UTC)


def ordinal_range(transform: object, ordinal: int) -> tuple[datetime, datetime] | None:
    """The [start, end) instants of a year/month/day/hour partition ordinal (``None`` for other transforms)."""
    if isinstance(transform, YearTransform):
        return _add_months(ordinal * 12), _add_months((ordinal + 1) * 12)
    if isinstance(transform, MonthTransform):
        return _add_months(ordinal), _add_months(ordinal + 1)
    if isinstance(transform, DayTransform):
        start = datetime.fromordinal(_EPOCH.toordinal() + ordinal).replace(tzinfo=UTC)
        return start, datetime.fromordinal(start.toordinal() + 1).replace(tzinfo=UTC)
    if isinstance(transform, HourTransform):
        start = datetime.fromtimestamp(ordinal * 3600, UTC)
        return start, datetime.fromtimestamp((ordinal + 1) * 3600, UTC)
    return None


def partition_time_ranges(table: Table, plan: PartitionPlan) -> list[tuple[str, datetime, datetime]]:
    """(source column, start, end) of each time-transform field of the plan's partition.

    Raises ``ValueError`` for a partition field that is not a year/month/day/hour transform.
    """
    spec = table.metadata.specs()[plan.spec_id]
    schema = table.schema()
    ranges = []
    for position, field in enumerate(spec.fields):
        value = plan.partition[position]
        bounds = ordinal_range(field.transform, value) if isinstance(value, int) else None
        if bounds is None:
            raise ValueError(
                f"{plan.label}: partition field {field.name} ({field.transform}) is not a time range"
            )
        ranges.append((schema.find_column_name(field.source_id) or field.name, *bounds))
    return ranges


def partition_filter(table: Table, plans: Iterable[PartitionPlan]) -> str:
    """A Spark SQL predicate selecting exactly the rows of the planned partitions (time ranges, OR-ed).

    Iceberg's ``rewrite_data_files(where => …)`` projects it onto the partitions, so only their files
    are considered. Timestamps are UTC instants (the session time zone is UTC).
    """
    terms = []
    for plan in plans:
        parts = [
            f"`{column}` >= TIMESTAMP '{start:%Y-%m-%d %H:%M:%S}' AND `{column}` < TIMESTAMP '{end:%Y-%m-%d %H:%M:%S}'"
            for column, start, end in partition_time_ranges(table, plan)
        ]
        terms.append("(" + " AND ".join(parts) + ")")
    return " OR ".join(terms)
