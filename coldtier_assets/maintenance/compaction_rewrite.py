"""The pyiceberg engine's rewrite of one planned partition: new files, verified before any commit.

Each bin of small files is read, sorted (the given columns first, then every other column) and
written as one file. The new files must hold exactly the rows of the replaced ones: the row count,
then every value, compared after reading the new files back from storage. On any failure the new
files are deleted again (they were never committed).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence

import pyarrow as pa
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan, _dataframe_to_data_files
from pyiceberg.manifest import DataFile
from pyiceberg.table import FileScanTask, Table, TableProperties
from pyiceberg.table.metadata import TableMetadata

from coldtier_assets.errors import ColdtierError
from coldtier_assets.maintenance.compaction_plan import PartitionPlan

log = logging.getLogger(__name__)


class CompactionError(ColdtierError):
    """A compaction could not be completed or failed its verification; nothing was committed."""


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


def discard(table: Table, files: Iterable[DataFile]) -> None:
    """Delete files that were written but never committed (best effort; orphan removal gets the rest)."""
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
        discard(table, written)
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
