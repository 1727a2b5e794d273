"""Orphan-file removal: delete files under a table's location that no metadata references.

Referenced: the current metadata file and the previous ones in its metadata log, every snapshot's
manifest list, every manifest those lists name, every data or delete file live in one of those
manifests (an entry marked deleted is not needed to read any snapshot), and statistics files. The
files are listed **before** the metadata is loaded, so a file committed in between is seen as
referenced. A file is deleted only when it is unreferenced **and** older than ``orphan_min_age``
(default three days, and never less than 24 hours whatever the configuration says): a commit in
flight has written its data files and manifests but not yet swapped the metadata pointer, and the
age guard keeps those files.

Paths are compared without their scheme (``s3://``, ``s3a://`` and ``file:`` spellings of one file
are one path) and also percent-decoded, so a file that another engine names with a different
spelling or URL encoding counts as referenced: a spelling mismatch can only keep a file, never
delete a live one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple
from urllib.parse import unquote

from pyarrow.fs import FileSelector, FileSystem, FileType
from pyiceberg.catalog import Catalog
from pyiceberg.io.pyarrow import PyArrowFileIO
from pyiceberg.table import Table

from coldtier_assets.errors import ColdtierError
from coldtier_assets.maintenance.policy import MaintenancePolicy, orphan_age_problem
from coldtier_assets.offload.windows import utc

log = logging.getLogger(__name__)


class OrphanRemovalError(ColdtierError):
    """The table's files cannot be listed (unsupported FileIO) or an orphan could not be deleted."""


class StoredFile(NamedTuple):
    """A file under the table location: its FileIO path (``/dir/f`` or ``bucket/key``), size, mtime."""

    path: str
    size: int
    modified: datetime | None


@dataclass(frozen=True)
class OrphanResult:
    """What one :func:`remove_orphan_files` call found and deleted."""

    table: str
    stored_files: int
    stored_bytes: int
    referenced: int
    removed: tuple[str, ...]
    removed_bytes: int
    kept_too_young: tuple[str, ...]
    dry_run: bool

    @property
    def files_after(self) -> int:
        """Files left under the table location."""
        return self.stored_files - (0 if self.dry_run else len(self.removed))

    @property
    def bytes_after(self) -> int:
        """Bytes left under the table location."""
        return self.stored_bytes - (0 if self.dry_run else self.removed_bytes)


def _file_system(table: Table) -> tuple[FileSystem, str]:
    io = table.io
    if not isinstance(io, PyArrowFileIO):
        raise OrphanRemovalError(
            f"orphan-file removal needs pyiceberg's PyArrowFileIO, not {type(io).__name__}"
        )
    scheme, netloc, path = io.parse_location(table.location(), io.properties)
    return io.fs_by_scheme(scheme, netloc), path


def file_io_path(table: Table, location: str) -> str:
    """A location as the FileIO path the file system lists (scheme dropped, bucket kept)."""
    io = table.io
    assert isinstance(io, PyArrowFileIO)
    return io.parse_location(location, io.properties)[2]


def list_table_files(table: Table) -> list[StoredFile]:
    """Every file stored under the table's location."""
    fs, root = _file_system(table)
    infos = fs.get_file_info(FileSelector(root, recursive=True, allow_not_found=True))
    below = root.rstrip("/") + "/"  # never a sibling whose name extends this one (t vs t_copy on S3)
    return [
        StoredFile(info.path, int(info.size or 0), utc(info.mtime) if info.mtime is not None else None)
        for info in infos
        if info.type == FileType.File and info.path.startswith(below)
    ]


def referenced_files(table: Table) -> set[str]:
    """FileIO paths of every file the table's metadata references (see the module docstring)."""
    metadata = table.metadata
    locations: set[str] = {table.metadata_location}
    locations |= {entry.metadata_file for entry in metadata.metadata_log}
    locations |= {statistics.statistics_path for statistics in metadata.statistics}
    locations |= {statistics.statistics_path for statistics in metadata.partition_statistics}
    manifests: dict[str, object] = {}
    for snapshot in metadata.snapshots:
        locations.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(table.io):
            if manifest.manifest_path in manifests:
                continue
            manifests[manifest.manifest_path] = manifest
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                locations.add(entry.data_file.file_path)
    locations |= set(manifests)
    return {file_io_path(table, location) for location in locations}


def _spellings(path: str) -> set[str]:
    """The spellings under which ``path`` may appear in metadata: as listed and percent-decoded."""
    return {path, unquote(path)}


def known_spellings(referenced: set[str]) -> set[str]:
    """Every spelling of every referenced path (compare a listed path's spellings against these)."""
    return {spelling for path in referenced for spelling in _spellings(path)}


def is_referenced(path: str, known: set[str]) -> bool:
    """True when any spelling of ``path`` is in ``known`` (from :func:`known_spellings`)."""
    return bool(_spellings(path) & known)


def unreferenced_files(stored: list[StoredFile], referenced: set[str]) -> list[StoredFile]:
    """Stored files that no referenced path names under any spelling (see the module docstring)."""
    known = known_spellings(referenced)
    return [file for file in stored if not is_referenced(file.path, known)]


def remove_orphan_files(
    catalog: Catalog,
    identifier: tuple[str, str],
    now: datetime,
    policy: MaintenancePolicy | None = None,
    *,
    dry_run: bool = False,
) -> OrphanResult:
    """Delete unreferenced files older than the policy's ``orphan_min_age`` under the table location."""
    policy = policy or MaintenancePolicy()
    if (problem := orphan_age_problem(policy.orphan_min_age)) is not None:  # also if the policy was altered
        raise OrphanRemovalError(problem)
    table = catalog.load_table(identifier)
    stored = list_table_files(table)  # list first ...
    table = catalog.load_table(identifier)  # ... then read what is referenced, as of now
    referenced = referenced_files(table)
    cutoff = utc(now) - policy.orphan_min_age
    unreferenced = unreferenced_files(stored, referenced)
    orphans = [file for file in unreferenced if file.modified is not None and file.modified < cutoff]
    young = tuple(file.path for file in unreferenced if file not in orphans)
    removed: list[StoredFile] = []
    if not dry_run and orphans:
        fs, _ = _file_system(table)
        for file in orphans:
            try:
                fs.delete_file(file.path)
            except FileNotFoundError:
                continue
            except OSError as error:
                raise OrphanRemovalError(f"could not delete orphan file {file.path}: {error}") from error
            removed.append(file)
            log.info("removed orphan file %s", file.path)
    else:
        removed = orphans
    return OrphanResult(
        table=".".join(identifier),
        stored_files=len(stored),
        stored_bytes=sum(file.size for file in stored),
        referenced=len(referenced),
        removed=tuple(file.path for file in removed),
        removed_bytes=sum(file.size for file in removed),
        kept_too_young=young,
        dry_run=dry_run,
    )
