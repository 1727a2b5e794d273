"""The cold column types: how the Iceberg DDL spells each, and which ClickHouse types fit it.

One table serves both sides: :mod:`coldtier_assets.ddl` turns a DDL type into its pyiceberg type,
and :mod:`coldtier_assets.offload.source_schema` checks a ClickHouse source column against it.
Decimals and timestamps carry a precision, so they are matched by their own rules there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyiceberg.types import (
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    IcebergType,
    IntegerType,
    LongType,
    PrimitiveType,
    StringType,
    TimestampType,
    TimestamptzType,
)

from coldtier_assets.errors import DdlError

_INT32_FITS = frozenset({"Int8", "Int16", "Int32", "UInt8", "UInt16"})


@dataclass(frozen=True)
class ColumnType:
    """One cold column type: its DDL spellings, its pyiceberg type, the ClickHouse types that fit."""

    ddl_names: tuple[str, ...]
    iceberg: PrimitiveType
    fits: frozenset[str]  # ClickHouse base types (without Nullable/LowCardinality)
    expected: str  # what a schema-drift message says is expected


#: The plain column types (decimals and timestamps are matched by precision instead).
PLAIN_TYPES: tuple[ColumnType, ...] = (
    ColumnType(("STRING",), StringType(), frozenset({"String"}), "String"),
    ColumnType(
        ("BIGINT", "LONG"),
        LongType(),
        _INT32_FITS | {"Int64", "UInt32"},
        "Int64 (or a narrower integer)",
    ),
    ColumnType(("INT", "INTEGER"), IntegerType(), _INT32_FITS, "Int32 (or a narrower integer)"),
    ColumnType(("BOOLEAN",), BooleanType(), frozenset({"Bool"}), "Bool"),
    ColumnType(("DOUBLE",), DoubleType(), frozenset({"Float32", "Float64"}), "Float64"),
    ColumnType(("DATE",), DateType(), frozenset({"Date", "Date32"}), "Date"),
)

_BY_DDL_NAME: dict[str, IcebergType] = {
    **{name: kind.iceberg for kind in PLAIN_TYPES for name in kind.ddl_names},
    "TIMESTAMP": TimestamptzType(),
    "TIMESTAMP_NTZ": TimestampType(),
}


def iceberg_type(ddl_type: str) -> IcebergType:
    """The pyiceberg type of a DDL column type (``BIGINT``, ``DECIMAL(18, 8)``, ``TIMESTAMP``…)."""
    normalized = re.sub(r"\s+", "", ddl_type.upper())
    if decimal := re.fullmatch(r"DECIMAL\((\d+),(\d+)\)", normalized):
        return DecimalType(int(decimal.group(1)), int(decimal.group(2)))
    if normalized not in _BY_DDL_NAME:
        raise DdlError(f"unsupported column type {ddl_type!r} in Iceberg DDL")
    return _BY_DDL_NAME[normalized]


def plain_type(iceberg: IcebergType) -> ColumnType | None:
    """The plain column type of a pyiceberg type, or None (decimals, timestamps, unknown types)."""
    return next((kind for kind in PLAIN_TYPES if kind.iceberg == iceberg), None)
