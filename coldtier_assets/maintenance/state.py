"""Files, bytes and rows of a table's snapshot, read from its manifests (no data is read)."""

from __future__ import annotations

from dataclasses import dataclass

from pyiceberg.manifest import DataFile, DataFileContent
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot


@dataclass(frozen=True)
class TableState:
    """The live data files of one snapshot: how many, their Parquet bytes and their rows."""

    snapshot_id: int | None
    files: int
    bytes: int
    rows: int


def live_data_files(table: Table, snapshot: Snapshot | None = None) -> list[DataFile]:
    """The live data files of ``snapshot`` (default: the current one); empty for a table without data."""
    snapshot = snapshot if snapshot is not None else table.current_snapshot()
    if snapshot is None:
        return []
    files = []
    for manifest in snapshot.manifests(table.io):
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
            if entry.data_file.content == DataFileContent.DATA:
                files.append(entry.data_file)
    return files


def table_state(table: Table, snapshot: Snapshot | None = None) -> TableState:
    """Files, bytes and rows of ``snapshot`` (default: the current one)."""
    snapshot = snapshot if snapshot is not None else table.current_snapshot()
    files = live_data_files(table, snapshot)
    return TableState(
        snapshot_id=snapshot.snapshot_id if snapshot is not None else None,
        files=len(files),
        bytes=sum(file.file_size_in_bytes for file in files),
        rows=sum(file.record_count for file in files),
    )
