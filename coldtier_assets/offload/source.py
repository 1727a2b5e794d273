"""The ClickHouse side of a window: schema check against the DDL, row hashes, sliced Arrow reads.

Through clickhouse-connect's chDB backend a query's Arrow result is materialized before the first
batch, so a window is read in slices of at most ``slice_rows`` rows (planned from per-second row
counts) to keep memory bounded however large the window is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
from pyiceberg.schema import Schema
from pyiceberg.types import (
    BooleanType,
    DecimalType,
    IntegerType,
    LongType,
    NestedField,
    TimestampType,
    TimestamptzType,
)

from coldtier_assets.errors import NullViolationError, SchemaDriftError
from coldtier_assets.offload.source_schema import extra_columns, schema_problems
from coldtier_assets.offload.windows import Window
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.resources.warm_reader import WarmReader
from coldtier_assets.tables import INGESTION_COLUMNS, TableSpec

ROW_HASH_COLUMN = "_coldtier_row_hash"

#: The version of :func:`row_hash_expression`, recorded next to every checksum a window commit
#: records (``coldtier.row-hash``). Checksums recorded under another version (or none: version 1)
#: are not compared with this one's; they count as unknown. Version 1 hashed decimals as text
#: (``toString``), a quarter of the cost of reading a window (``benchmarks/day_breakdown.py``);
#: version 2 hashes their value at the cold type.
ROW_HASH_VERSION = "2"


def _hash_term(field: NestedField) -> str:
    """A canonical, engine-independent hash input for one column (same for warm and cold reads).

    A decimal is hashed as its value cast to the cold column's exact type, so the bytes hashed do not
    depend on how a tier stores it (``Decimal64`` or ``Decimal128``, Parquet INT64 or fixed bytes).
    The cast never loses digits: :func:`check_source` accepts a warm decimal only at the cold scale
    and at a precision that fits the cold one.
    """
    quoted = f"`{field.name}`"
    iceberg_type = field.field_type
    if isinstance(iceberg_type, TimestamptzType | TimestampType):
        return f"toUnixTimestamp64Micro(toDateTime64({quoted}, 6, 'UTC'))"
    if isinstance(iceberg_type, BooleanType):
        return f"toUInt8({quoted})"
    if isinstance(iceberg_type, LongType | IntegerType):
        return f"toInt64({quoted})"
    if isinstance(iceberg_type, DecimalType):
        decimal = f"Decimal({iceberg_type.precision}, {iceberg_type.scale})"
        return f"CAST({quoted} AS {decimal if field.required else f'Nullable({decimal})'})"
    return f"toString({quoted})"


def row_hash_expression(schema: Schema) -> str:
    """ClickHouse SQL for a per-row content hash over every column but the ingestion columns.

    The window checksum is the wrapping UInt64 sum of these hashes, so it does not depend on row
    order; ClickHouse computes it the same way over a warm table or a cold table (``iceberg*``).
    Changing it means a new :data:`ROW_HASH_VERSION`.
    """
    terms = [_hash_term(field) for field in schema.fields if field.name not in INGESTION_COLUMNS]
    return f"cityHash64({', '.join(terms)})"


def sql_time(moment: datetime) -> str:
    """A ClickHouse DateTime64(6, 'UTC') literal."""
    return f"toDateTime64('{moment.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S.%f')}', 6, 'UTC')"


@dataclass(frozen=True)
class SourceTable:
    """A checked ClickHouse source: its registry entry, the cold schema to read, and whether FINAL is needed."""

    spec: TableSpec
    schema: Schema
    use_final: bool

    @property
    def time_column(self) -> str:
        """The trade-time column that windows are cut on."""
        return self.spec.time_column

    def window_predicate(self, window: Window) -> str:
        """SQL predicate selecting the window's rows."""
        column = f"`{self.time_column}`"
        return f"{column} >= {sql_time(window.start)} AND {column} < {sql_time(window.end)}"

    @property
    def from_clause(self) -> str:
        """``FROM <table> [FINAL]`` — FINAL collapses resent rows of ReplacingMergeTree tables."""
        return f"FROM `{self.spec.name}`" + (" FINAL" if self.use_final else "")


def check_source(warm: WarmReader, spec: TableSpec, schema: Schema) -> SourceTable:
    """Compare the ClickHouse table's columns with the cold schema; raise on any drift, before any read.

    A column whose ClickHouse type cannot be written to its cold column (``DateTime``,
    ``DateTime64(9)``, a Nullable column where cold is NOT NULL, another Decimal) is refused with its
    name, its ClickHouse type and the expected type. Extra ClickHouse columns are not copied; the
    ``schema_matches_ddl`` check reports them (:func:`extra_source_columns`).
    """
    problems = schema_problems(warm.columns(spec.name), schema)
    if problems:
        raise SchemaDriftError(
            f"ClickHouse table {spec.name!r} no longer matches its DDL: " + "; ".join(problems)
        )
    engine_rows = warm.rows(
        "SELECT engine FROM system.tables WHERE database = currentDatabase() AND name = {t:String}",
        {"t": spec.name},
    )
    engine = str(engine_rows[0][0]) if engine_rows else ""
    return SourceTable(spec, schema, "ReplacingMergeTree" in engine)


def extra_source_columns(warm: WarmReader, spec: TableSpec, schema: Schema) -> list[str]:
    """ClickHouse columns of ``spec`` that the cold schema lacks, each named with its type."""
    return extra_columns(warm.columns(spec.name), schema)


def window_row_counts(warm: WarmTier, source: SourceTable, windows: list[Window]) -> list[int]:
    """Rows per window (before FINAL, so an upper bound), for a run of equal, consecutive windows."""
    if not windows:
        return []
    length = int((windows[0].end - windows[0].start).total_seconds())
    first = int(windows[0].start.timestamp())
    span = Window(windows[0].start, windows[-1].end)
    rows = warm.rows(
        f"SELECT intDiv(toUnixTimestamp64Micro(toDateTime64(`{source.time_column}`, 6, 'UTC')), 1000000) "
        f"DIV {length} AS bucket, count() FROM `{source.spec.name}` WHERE {source.window_predicate(span)} "
        "GROUP BY bucket"
    )
    counts = [0] * len(windows)
    for bucket, count in rows:
        counts[(int(str(bucket)) * length - first) // length] = int(str(count))
    return counts


def plan_slices(warm: WarmTier, source: SourceTable, window: Window, slice_rows: int) -> list[Window]:
    """Cut a window into sub-windows of at most ``slice_rows`` rows (per-second granularity)."""
    counts = warm.rows(
        f"SELECT intDiv(toUnixTimestamp64Micro(toDateTime64(`{source.time_column}`, 6, 'UTC')), 1000000) AS second, "
        f"count() FROM `{source.spec.name}` WHERE {source.window_predicate(window)} GROUP BY second ORDER BY second"
    )
    slices = []
    slice_start = window.start
    in_slice = 0
    for second, count in counts:
        boundary = datetime.fromtimestamp(int(str(second)), UTC)
        if in_slice and in_slice + int(str(count)) > slice_rows and boundary > slice_start:
            slices.append(Window(slice_start, boundary))
            slice_start, in_slice = boundary, 0
        in_slice += int(str(count))
    slices.append(Window(slice_start, window.end))
    return slices


def read_slices(
    warm: WarmTier, source: SourceTable, window: Window, slice_rows: int, expected_rows: int | None = None
) -> Iterator[pa.Table]:
    """Yield the window's rows as Arrow tables of at most about ``slice_rows`` rows each.

    A window known to hold at most ``slice_rows`` rows is read in one query; a larger one is
    planned from per-second counts first. Each table carries :data:`ROW_HASH_COLUMN`.
    """
    select_list = ", ".join(f"`{field.name}`" for field in source.schema.fields)
    small = expected_rows is not None and expected_rows <= slice_rows
    for part in [window] if small else plan_slices(warm, source, window, slice_rows):
        yield warm.arrow(
            f"SELECT {select_list}, {row_hash_expression(source.schema)} AS {ROW_HASH_COLUMN} "
            f"{source.from_clause} WHERE {source.window_predicate(part)}"
        )


def checksum_of(hashes: pa.Array | pa.ChunkedArray) -> int:
    """Wrapping UInt64 sum of row hashes (order-independent), as ClickHouse's ``sum`` computes it."""
    total = np.uint64(0)
    for chunk in hashes.chunks if isinstance(hashes, pa.ChunkedArray) else [hashes]:
        total = np.add(total, chunk.to_numpy(zero_copy_only=False).astype(np.uint64).sum(dtype=np.uint64))
    return int(total)


def to_cold_arrow(data: pa.Table, source: SourceTable, window: Window) -> pa.Table:
    """Reject NULLs in NOT NULL columns and drop the hash column (the writer casts to the table's schema).

    :func:`check_source` already refuses Nullable sources of NOT NULL columns; this is the last guard.
    """
    for name in (field.name for field in source.schema.fields if field.required):
        nulls = data.column(name).null_count
        if nulls:
            raise NullViolationError(
                f"{nulls} row(s) of ClickHouse table {source.spec.name!r} in window {window} have NULL in "
                f"{name!r}, which the DDL declares NOT NULL; nothing was committed"
            )
    return data.drop_columns([ROW_HASH_COLUMN])


def warm_checksum(warm: WarmTier, source: SourceTable, window: Window) -> tuple[int, int]:
    """(rows, checksum) of the window computed by ClickHouse over the warm table."""
    rows = warm.rows(
        f"SELECT count(), sum({row_hash_expression(source.schema)}) {source.from_clause} "
        f"WHERE {source.window_predicate(window)}"
    )
    return int(str(rows[0][0])), int(str(rows[0][1]))
