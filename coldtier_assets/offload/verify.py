"""Warm-cold consistency of windows: row count and content checksum on both sides.

The checksum is the same ClickHouse expression over both tiers (``sum(cityHash64(…))`` of every
row's canonical values), so a changed price, a missing or an extra row all show. A window whose warm
rows are gone (retention) is reported as purged, not as a mismatch.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pyiceberg.schema import Schema
from pyiceberg.table import Table

from coldtier_assets.config import Settings
from coldtier_assets.offload.cold_engine import cold_rows, committed_table_function
from coldtier_assets.offload.sink import read_ledger
from coldtier_assets.offload.source import SourceTable, check_source, row_hash_expression, sql_time
from coldtier_assets.offload.windows import Window
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.resources.warm_reader import WarmReader
from coldtier_assets.tables import TableSpec


class Verdict(StrEnum):
    """The outcome of comparing one window."""

    MATCH = "match"
    MISMATCH = "mismatch"
    PURGED = "purged from warm"
    NOT_COPIED = "not copied yet"


@dataclass(frozen=True)
class WindowCheck:
    """Row counts and checksums of one window in both tiers."""

    table: str
    window: Window
    verdict: Verdict
    warm_rows: int
    cold_rows: int
    warm_checksum: int
    cold_checksum: int

    @property
    def ok(self) -> bool:
        """True unless the tiers disagree."""
        return self.verdict is not Verdict.MISMATCH


def checksum_query(
    schema: Schema, spec: TableSpec, source_sql: str, windows: list[Window]
) -> tuple[str, int]:
    """SQL computing (bucket, rows, checksum) per window over ``source_sql``, and the window length."""
    length = int((windows[0].end - windows[0].start).total_seconds())
    column = f"`{spec.time_column}`"
    bucket = f"intDiv(toUnixTimestamp64Micro(toDateTime64({column}, 6, 'UTC')), 1000000) DIV {length}"
    return (
        f"SELECT {bucket} AS bucket, count(), sum({row_hash_expression(schema)}) FROM {source_sql} "
        f"WHERE {column} >= {sql_time(windows[0].start)} AND {column} < {sql_time(windows[-1].end)} GROUP BY bucket",
        length,
    )


def by_window(
    rows: list[list[object]] | list[tuple[object, ...]], windows: list[Window], length: int
) -> dict[Window, tuple[int, int]]:
    """Map (bucket, rows, checksum) result rows onto the windows; a window without rows is (0, 0)."""
    by_bucket = {int(str(bucket)): (int(str(count)), int(str(checksum))) for bucket, count, checksum in rows}
    return {window: by_bucket.get(int(window.start.timestamp()) // length, (0, 0)) for window in windows}


def warm_window_checksums(
    warm: WarmReader, source: SourceTable, windows: list[Window]
) -> dict[Window, tuple[int, int]]:
    """(rows, checksum) per window of the ClickHouse table (FINAL: each natural key once), one query."""
    if not windows:
        return {}
    sql, length = checksum_query(
        source.schema, source.spec, source.from_clause.removeprefix("FROM "), windows
    )
    return by_window(warm.rows(sql), windows, length)


def cold_window_checksums(
    settings: Settings, warm: WarmTier, table: Table, spec: TableSpec, windows: list[Window]
) -> dict[Window, tuple[int, int]]:
    """(rows, checksum) per window of the cold table, computed by ClickHouse over the Iceberg files."""
    if not windows:
        return {}
    sql, length = checksum_query(table.schema(), spec, committed_table_function(table), windows)
    return by_window(cold_rows(settings, warm, sql), windows, length)


def cold_checksum_sql(table: Table, spec: TableSpec, windows: list[Window]) -> str:
    """SQL giving (bucket, rows, checksum) per window of the cold table, read by ClickHouse."""
    return checksum_query(table.schema(), spec, committed_table_function(table), windows)[0]


def verify_windows(
    settings: Settings,
    warm: WarmTier,
    table: Table,
    spec: TableSpec,
    windows: list[Window],
    cold: dict[Window, tuple[int, int]] | None = None,
) -> list[WindowCheck]:
    """Compare each window's rows and checksum between ClickHouse and Iceberg.

    ``cold`` may hold the cold figures already computed (from :func:`cold_checksum_sql`).
    """
    ledger = read_ledger(table)
    source = check_source(warm, spec, table.schema())
    if cold is None:
        cold = cold_window_checksums(settings, warm, table, spec, windows)
    warm_side = warm_window_checksums(warm, source, windows)
    checks = []
    for window in windows:
        warm_count, warm_sum = warm_side[window]
        cold_count, cold_sum = cold[window]
        if not ledger.covers(window):
            verdict = Verdict.NOT_COPIED
        elif (warm_count, warm_sum) == (cold_count, cold_sum):
            verdict = Verdict.MATCH
        elif warm_count == 0 and cold_count > 0:
            verdict = Verdict.PURGED
        else:
            verdict = Verdict.MISMATCH
        checks.append(WindowCheck(spec.name, window, verdict, warm_count, cold_count, warm_sum, cold_sum))
    return checks
