"""Which ClickHouse column types can be written to which cold (Iceberg) columns, without loss.

Checked before any row is read, so schema drift is a clear error naming the column, its ClickHouse
type and the expected type — never an Arrow cast failing halfway through a copy.
"""

from __future__ import annotations

import re

from pyiceberg.schema import Schema
from pyiceberg.types import DecimalType, IcebergType, NestedField, TimestampType, TimestamptzType

from coldtier_assets.column_types import plain_type

_WRAPPERS = re.compile(r"^(?:LowCardinality|Nullable)\((.*)\)$")
_DECIMAL = re.compile(r"^Decimal\((\d+),(\d+)\)$")
_DATETIME64 = re.compile(r"^DateTime64\((\d+)(?:,.*)?\)$")


def unwrap(ch_type: str) -> tuple[str, bool]:
    """Strip LowCardinality/Nullable wrappers; report whether the type is Nullable."""
    nullable = False
    while match := _WRAPPERS.match(ch_type):
        nullable = nullable or ch_type.startswith("Nullable(")
        ch_type = match.group(1)
    return ch_type, nullable


def _decimal_problem(base: str, iceberg_type: DecimalType) -> str | None:
    expected = f"Decimal({iceberg_type.precision}, {iceberg_type.scale})"
    match = _DECIMAL.match(base.replace(" ", ""))
    if not match:
        return f"expected {expected}"
    precision, scale = int(match.group(1)), int(match.group(2))
    if scale != iceberg_type.scale:
        return f"expected {expected}: scale {scale} differs from the cold scale {iceberg_type.scale}"
    if precision > iceberg_type.precision:
        return f"expected {expected}: precision {precision} does not fit the cold precision {iceberg_type.precision}"
    return None


def _timestamp_problem(base: str) -> str | None:
    expected = "expected DateTime64(6, 'UTC') (or DateTime64 of precision 0-6)"
    match = _DATETIME64.match(base)
    if base.startswith("DateTime64(") and match and int(match.group(1)) <= 6:
        return None
    if match:
        return f"{expected}: precision {match.group(1)} is finer than the cold microseconds"
    if base == "DateTime" or base.startswith("DateTime("):
        return f"{expected}: DateTime (whole seconds) arrives as an integer, not a timestamp"
    return expected


def type_problem(ch_type: str, iceberg_type: IcebergType) -> str | None:
    """Why values of the ClickHouse type cannot be written to the Iceberg type; None when they can."""
    base, _ = unwrap(ch_type)
    if isinstance(iceberg_type, DecimalType):
        return _decimal_problem(base, iceberg_type)
    if isinstance(iceberg_type, TimestamptzType | TimestampType):
        return _timestamp_problem(base)
    plain = plain_type(iceberg_type)
    if plain is None:
        return f"no ClickHouse type is known to fit {iceberg_type}"
    return None if base in plain.fits else f"expected {plain.expected}"


def clickhouse_type_fits(ch_type: str, iceberg_type: IcebergType) -> bool:
    """True when values of the ClickHouse type convert to the Iceberg type without loss."""
    return type_problem(ch_type, iceberg_type) is None


def column_problem(field: NestedField, ch_type: str) -> str | None:
    """A message naming the column, its ClickHouse type and the expected type; None when it fits."""
    problem = type_problem(ch_type, field.field_type)
    if problem is None and field.required and unwrap(ch_type)[1]:
        problem = "expected a non-Nullable type: NULLs cannot be written to a NOT NULL column"
    if problem is None:
        return None
    cold = f"{field.field_type}{' NOT NULL' if field.required else ''}"
    return f"column {field.name!r} is {ch_type} in ClickHouse, the DDL says {cold}; {problem}"


def schema_problems(columns: dict[str, str], schema: Schema) -> list[str]:
    """Every cold column that is missing in ClickHouse or whose ClickHouse type cannot be written."""
    problems = []
    for field in schema.fields:
        if field.name not in columns:
            problems.append(f"column {field.name!r} is missing")
        elif problem := column_problem(field, columns[field.name]):
            problems.append(problem)
    return problems


def extra_columns(columns: dict[str, str], schema: Schema) -> list[str]:
    """ClickHouse columns the cold table does not have (they would be silently left out)."""
    names = {field.name for field in schema.fields}
    return [
        f"ClickHouse column {name!r} ({ch_type}) is not in the cold table"
        for name, ch_type in columns.items()
        if name not in names
    ]
