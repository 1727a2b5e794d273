"""Table loads reuse the parsed metadata file while the catalog points to it, and see every commit."""

from __future__ import annotations

import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField

from coldtier_assets.config import Settings
from coldtier_assets.resources.iceberg import open_catalog, sqlalchemy_uri
from coldtier_assets.resources.metadata_cache import METADATA_CACHE, MetadataCache

SCHEMA = Schema(NestedField(1, "n", LongType(), required=False))


def test_a_table_is_parsed_once_per_metadata_file_and_a_foreign_commit_is_seen(settings: Settings) -> None:
    catalog = open_catalog(settings)
    catalog.create_namespace_if_not_exists("probe")
    catalog.create_table(("probe", "numbers"), SCHEMA)
    first = catalog.load_table(("probe", "numbers"))
    hits = METADATA_CACHE.hits
    again = open_catalog(settings).load_table(("probe", "numbers"))
    assert METADATA_CACHE.hits == hits + 1 and again.metadata is first.metadata

    # another writer (pyiceberg's own catalog, no cache) commits: the next load follows the pointer
    plain = SqlCatalog(
        settings.catalog_name, uri=sqlalchemy_uri(settings.catalog_uri), warehouse=settings.warehouse
    )
    plain.load_table(("probe", "numbers")).append(pa.table({"n": pa.array([1, 2, 3], pa.int64())}))
    after = catalog.load_table(("probe", "numbers"))
    assert after.metadata_location != first.metadata_location
    assert after.current_snapshot() is not None and after.scan().to_arrow().num_rows == 3
    assert first.current_snapshot() is None  # the earlier load's metadata is left as it was


def test_the_cache_keeps_the_most_recently_used_files(settings: Settings) -> None:
    catalog = open_catalog(settings)
    catalog.create_namespace_if_not_exists("probe")
    metadata = catalog.create_table(("probe", "lru"), SCHEMA).metadata
    cache = MetadataCache(capacity=2)
    for location in ("a", "b"):
        cache.put(location, metadata)
    assert cache.get("a") is metadata  # "a" used last: "b" goes first
    cache.put("c", metadata)
    assert cache.get("b") is None and cache.get("a") is metadata and cache.get("c") is metadata
