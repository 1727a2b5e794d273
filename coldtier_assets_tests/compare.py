"""Row-by-row comparison of a window in the warm tier and in the cold tier."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from pyiceberg.catalog import Catalog

from coldtier_assets.offload.sink import window_filter
from coldtier_assets.offload.source import sql_time
from coldtier_assets.offload.windows import Window
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.tables import TableSpec

Row = tuple[object, ...]


def warm_rows(
    warm: WarmTier, spec: TableSpec, start: datetime, end: datetime, columns: list[str]
) -> list[Row]:
    """The warm rows of [start, end) as ClickHouse returns them with FINAL (one per natural key)."""
    final = "" if spec.layer == "gold" else " FINAL"
    column = f"`{spec.time_column}`"
    table = warm.arrow(
        f"SELECT {', '.join(f'`{c}`' for c in columns)} FROM `{spec.name}`{final} "
        f"WHERE {column} >= {sql_time(start)} AND {column} < {sql_time(end)}"
    )
    return sorted(tuple(row[c] for c in columns) for row in table.to_pylist())


def cold_rows(catalog: Catalog, namespace: str, spec: TableSpec, start: datetime, end: datetime) -> list[Row]:
    """The cold rows of [start, end), read back by pyiceberg."""
    table = catalog.load_table((namespace, spec.name))
    data = table.scan(row_filter=window_filter(spec.time_column, Window(start, end))).to_arrow()
    columns = [field.name for field in table.schema().fields]
    return sorted(tuple(row[c] for c in columns) for row in data.to_pylist())


def cold_columns(catalog: Catalog, namespace: str, spec: TableSpec) -> list[str]:
    """Column names of a cold table, in schema order."""
    return [field.name for field in catalog.load_table((namespace, spec.name)).schema().fields]


def duplicate_keys(rows: list[Row], columns: list[str], key: tuple[str, ...]) -> list[Row]:
    """Natural keys that occur more than once."""
    positions = [columns.index(name) for name in key]
    counts = Counter(tuple(row[p] for p in positions) for row in rows)
    return [k for k, n in counts.items() if n > 1]


def assert_window_matches(
    warm: WarmTier, catalog: Catalog, namespace: str, spec: TableSpec, start: datetime, end: datetime
) -> int:
    """Assert cold equals warm row by row for [start, end), without duplicate keys; returns the row count."""
    columns = cold_columns(catalog, namespace, spec)
    cold = cold_rows(catalog, namespace, spec, start, end)
    warm_side = warm_rows(warm, spec, start, end, columns)
    assert not duplicate_keys(cold, columns, spec.natural_key), f"{spec.name}: duplicate natural keys"
    assert len(cold) == len(warm_side), f"{spec.name}: {len(cold)} cold rows vs {len(warm_side)} warm"
    assert cold == warm_side, f"{spec.name}: cold rows differ from warm rows"
    return len(cold)
