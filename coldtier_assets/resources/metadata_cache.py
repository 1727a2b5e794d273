"""Parsed Iceberg table metadata, shared by the table loads of a process.

A ``metadata.json`` is written once and never changed: a commit writes a new file (its name carries
a fresh UUID) and moves the catalog's pointer to it. A load that finds the pointer at a file this
process parsed already reuses that parse (pyiceberg's metadata is immutable) instead of reading and
parsing the file again, 100 KiB and more on a table with a week of snapshots. Every load still asks
the catalog where the table is, so it sees every commit, whoever made it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import IcebergTables, SqlCatalog
from pyiceberg.io import load_file_io
from pyiceberg.serializers import FromInputFile
from pyiceberg.table import Table
from pyiceberg.table.metadata import TableMetadata


class MetadataCache:
    """The last ``capacity`` parsed metadata files, by location (least recently used dropped first)."""

    def __init__(self, capacity: int = 32) -> None:
        self.capacity = capacity
        self._parsed: OrderedDict[str, TableMetadata] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, location: str) -> TableMetadata | None:
        """The parsed metadata at ``location``, if this process has it."""
        with self._lock:
            metadata = self._parsed.get(location)
            if metadata is None:
                self.misses += 1
                return None
            self.hits += 1
            self._parsed.move_to_end(location)
            return metadata

    def put(self, location: str, metadata: TableMetadata) -> None:
        """Remember the parsed metadata of ``location``."""
        with self._lock:
            self._parsed[location] = metadata
            self._parsed.move_to_end(location)
            while len(self._parsed) > self.capacity:
                self._parsed.popitem(last=False)


#: The cache every :class:`CachingSqlCatalog` of this process shares.
METADATA_CACHE = MetadataCache()


class CachingSqlCatalog(SqlCatalog):
    """pyiceberg's SQL catalog, reading each metadata file once per process (:data:`METADATA_CACHE`)."""

    def _convert_orm_to_iceberg(self, orm_table: IcebergTables) -> Table:
        """The table the catalog row points to, its metadata parsed at most once per location."""
        location, namespace, name = (
            orm_table.metadata_location,
            orm_table.table_namespace,
            orm_table.table_name,
        )
        if not (location and namespace and name):
            return super()._convert_orm_to_iceberg(orm_table)  # pyiceberg raises its own errors
        metadata = METADATA_CACHE.get(location)
        if metadata is None:
            io = load_file_io(properties=self.properties, location=location)
            metadata = FromInputFile.table_metadata(io.new_input(location))
            METADATA_CACHE.put(location, metadata)
        return Table(
            identifier=(*Catalog.identifier_to_tuple(namespace), name),
            metadata=metadata,
            metadata_location=location,
            io=self._load_file_io(metadata.properties, location),
            catalog=self,
        )
