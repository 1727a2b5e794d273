"""The warm tier's day partitions: which tables have them, and which days they hold.

The Bronze tables, ``silver_trades`` and ``rejected_trades`` are ``PARTITION BY toYYYYMMDD(trade
time)``; Gold tables are views over Silver. Retention (:mod:`coldtier_assets.maintenance.retention`)
considers these partitions one day at a time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from coldtier_assets.offload.windows import Window
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.tables import TABLES, TableSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DayPartition:
    """One ClickHouse day partition of a warm table."""

    table: str
    partition_id: str
    day: date
    rows: int
    bytes: int
    parts: int


def partitioned_tables() -> list[TableSpec]:
    """The warm tables that hold day partitions (Bronze and Silver; Gold are views)."""
    return [spec for spec in TABLES if spec.layer in ("bronze", "silver")]


def day_partitions(warm: WarmTier, tables: list[TableSpec]) -> list[DayPartition]:
    """Day partitions of the given warm tables that hold rows, from ``system.parts``.

    Empty active parts are skipped: moving a partition aside leaves one behind until ClickHouse
    cleans it up.
    """
    names = [spec.name for spec in tables]
    rows = warm.rows(
        "SELECT table, partition_id, sum(rows), sum(bytes_on_disk), count() FROM system.parts "
        "WHERE database = currentDatabase() AND active AND rows > 0 AND table IN {names:Array(String)} "
        "GROUP BY table, partition_id ORDER BY partition_id, table",
        {"names": names},
    )
    partitions = []
    for table, partition_id, count, size, parts in rows:
        try:
            day = datetime.strptime(str(partition_id), "%Y%m%d").date()
        except ValueError:
            log.warning("%s: partition %s is not a toYYYYMMDD day; left alone", table, partition_id)
            continue
        partitions.append(
            DayPartition(str(table), str(partition_id), day, int(str(count)), int(str(size)), int(str(parts)))
        )
    return partitions


def day_window(day: date) -> Window:
    """The whole UTC day as a window."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return Window(start, start + timedelta(days=1))
