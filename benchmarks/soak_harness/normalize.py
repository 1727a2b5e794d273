"""Arrow columns from either tier as comparable Python values, written apart from coldtier's code.

Timestamps become integer microseconds since the epoch (whatever their unit or time zone),
decimals their exact value as text (``1.5`` whatever the scale), dictionaries their values.
"""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

Row = tuple[object, ...]


def decimal_text(value: Decimal) -> str:
    """The exact value of a decimal, without trailing zeros (``90000``, ``1.5``, ``0``)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0E0") else text


def column_values(column: pa.ChunkedArray | pa.Array) -> list[object]:
    """The values of one column, normalized."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_timestamp(array.type):
        micros = pc.cast(array, pa.timestamp("us", tz=array.type.tz)).cast(pa.int64())
        return micros.to_pylist()
    values = array.to_pylist()
    if pa.types.is_decimal(array.type):
        return [decimal_text(value) if value is not None else None for value in values]
    return values


def rows_of(table: pa.Table, columns: list[str]) -> list[Row]:
    """The rows of ``table`` as tuples of normalized values, in the order of ``columns``."""
    if table.num_rows == 0:
        return []
    return list(zip(*(column_values(table.column(name)) for name in columns), strict=True))
