"""Asset keys of the warm (ClickHouse) and cold (Iceberg) tables."""

from __future__ import annotations

import dagster as dg

from coldtier_assets.tables import TableSpec


def warm_key(spec: TableSpec) -> dg.AssetKey:
    """Asset key of a ClickHouse source table."""
    return dg.AssetKey(["clickhouse", spec.name])


def cold_key(spec: TableSpec) -> dg.AssetKey:
    """Asset key of a cold Iceberg table."""
    return dg.AssetKey(["cold", spec.name])
