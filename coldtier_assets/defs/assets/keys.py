"""Asset keys of the warm (ClickHouse) and cold (Iceberg) tables."""

from __future__ import annotations

import dagster as dg

from coldtier_assets.tables import TableSpec


def _name(table: TableSpec | str) -> str:
    return table if isinstance(table, str) else table.name


def warm_key(table: TableSpec | str) -> dg.AssetKey:
    """Asset key of a ClickHouse source table (given its spec or its name)."""
    return dg.AssetKey(["clickhouse", _name(table)])


def cold_key(table: TableSpec | str) -> dg.AssetKey:
    """Asset key of a cold Iceberg table (given its spec or its name)."""
    return dg.AssetKey(["cold", _name(table)])
