"""The independent verification after the run: cold vs ClickHouse FINAL, Gold vs cold Silver, files.

Nothing here uses coldtier's checks, checksums or readers: the warm side is plain SQL through
clickhouse-connect (``FINAL`` on tables; the Gold views apply it themselves), the cold side is a
pyiceberg scan, rows are normalized by :mod:`normalize`, and candles are recomputed by
:mod:`candles`. Per closed window of every table it compares the multiset of natural keys
(missing, duplicated, extra), the content of each row (``content mismatch``, also as a 64-bit
order-independent checksum per window), and whether the ledger covers the window.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.expressions import And, GreaterThanOrEqual, LessThan
from pyiceberg.table import Table

from benchmarks.soak_harness.candles import GOLD_COLUMNS, SILVER_COLUMNS, candles
from benchmarks.soak_harness.normalize import Row, rows_of
from coldtier_assets.config import Settings
from coldtier_assets.offload.windows import Ledger, Window, aligned_windows, closed_window_end
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.tables import INGESTION_COLUMNS, TABLES, TableSpec

SAMPLE = 5  # keys quoted per anomaly


@dataclass
class Anomaly:
    """One thing found wrong."""

    kind: str
    table: str
    window: str
    count: int
    sample: list[str] = field(default_factory=list)


@dataclass
class Verification:
    """What the verification covered and found."""

    windows: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    gold_candles_recomputed: int = 0
    files_checked: int = 0
    anomalies: list[Anomaly] = field(default_factory=list)

    def by_kind(self) -> dict[str, int]:
        """Anomaly counts by kind."""
        return dict(Counter(anomaly.kind for anomaly in self.anomalies))


def _floor(moment: datetime, length: timedelta) -> datetime:
    return moment - timedelta(seconds=moment.timestamp() % length.total_seconds())


def checksum(rows: list[Row]) -> int:
    """An order-independent 64-bit checksum of rows (sum of per-row BLAKE2b digests)."""
    total = 0
    for row in rows:
        total += int.from_bytes(hashlib.blake2b(repr(row).encode(), digest_size=8).digest(), "big")
    return total % 2**64


def _warm_rows(warm: WarmTier, spec: TableSpec, columns: list[str], span: Window) -> list[Row]:
    types = warm.columns(spec.name)
    select = ", ".join(f"toString({name}) AS {name}" if "Enum" in types[name] else name for name in columns)
    final = "" if spec.layer == "gold" else " FINAL"  # the Gold views read Silver FINAL themselves
    sql = (
        f"SELECT {select} FROM {spec.name}{final} WHERE {spec.time_column} >= {{lo:DateTime64(6, 'UTC')}} "
        f"AND {spec.time_column} < {{hi:DateTime64(6, 'UTC')}}"
    )
    data: pa.Table = warm.arrow(sql, {"lo": span.start, "hi": span.end})
    return rows_of(data, columns)


def _cold_rows(table: Table, spec: TableSpec, columns: list[str], span: Window) -> list[Row]:
    where = And(
        GreaterThanOrEqual(spec.time_column, span.start.isoformat()),  # pyright: ignore[reportCallIssue]
        LessThan(spec.time_column, span.end.isoformat()),  # pyright: ignore[reportCallIssue]
    )
    return rows_of(table.scan(row_filter=where, selected_fields=tuple(columns)).to_arrow(), columns)


def _by_window(rows: list[Row], time_index: int, length: timedelta) -> dict[int, list[Row]]:
    step = int(length.total_seconds() * 1_000_000)
    grouped: dict[int, list[Row]] = {}
    for row in rows:
        time = int(str(row[time_index]))
        grouped.setdefault(time - time % step, []).append(row)
    return grouped


def _compare_window(
    result: Verification, spec: TableSpec, label: str, warm: list[Row], cold: list[Row], key_index: list[int]
) -> None:
    def key(row: Row) -> tuple[object, ...]:
        return tuple(row[i] for i in key_index)

    warm_keys, cold_keys = Counter(map(key, warm)), Counter(map(key, cold))
    found = {
        "missing": sorted(set(warm_keys) - set(cold_keys), key=repr),
        "extra": sorted(set(cold_keys) - set(warm_keys), key=repr),
        "duplicated": sorted((k for k, n in cold_keys.items() if n > 1), key=repr),
    }
    warm_by_key = {key(row): row for row in warm}
    found["content mismatch"] = sorted(
        {key(row) for row in cold if key(row) in warm_by_key and warm_by_key[key(row)] != row}, key=repr
    )
    for kind, keys in found.items():
        if keys:
            result.anomalies.append(
                Anomaly(kind, spec.name, label, len(keys), [repr(k) for k in keys[:SAMPLE]])
            )
    if not any(found.values()) and checksum(warm) != checksum(cold):
        result.anomalies.append(Anomaly("checksum mismatch", spec.name, label, 1))


def verify_table(
    result: Verification,
    warm: WarmTier,
    table: Table,
    ledger: Ledger,
    spec: TableSpec,
    span: Window,
    length: timedelta,
) -> list[Row]:
    """Compare every window of ``span`` of one table; returns its cold rows (Silver feeds the candles)."""
    columns = [field.name for field in table.schema().fields if field.name not in INGESTION_COLUMNS]
    key_index = [columns.index(name) for name in spec.natural_key]
    time_index = columns.index(spec.time_column)
    warm_rows, cold_rows = _warm_rows(warm, spec, columns, span), _cold_rows(table, spec, columns, span)
    warm_windows, cold_windows = (
        _by_window(warm_rows, time_index, length),
        _by_window(cold_rows, time_index, length),
    )
    windows = aligned_windows(span.start, span.end, length)
    for window in windows:
        micros = int(window.start.timestamp()) * 1_000_000
        label = window.start.isoformat()
        if not ledger.covers(window):
            result.anomalies.append(Anomaly("uncopied window", spec.name, label, 1))
        _compare_window(
            result, spec, label, warm_windows.get(micros, []), cold_windows.get(micros, []), key_index
        )
    result.windows[spec.name] = len(windows)
    result.rows[spec.name] = len(cold_rows)
    if spec.name == "silver_trades":
        return [tuple(row[columns.index(name)] for name in SILVER_COLUMNS) for row in cold_rows]
    return cold_rows


def verify_gold(
    result: Verification, silver: list[Row], gold: dict[str, tuple[TableSpec, list[Row], Window]]
) -> None:
    """Cold Gold vs candles recomputed from cold Silver, per closed window of each Gold table."""
    for name, (spec, rows, span) in gold.items():
        start, end = int(span.start.timestamp()) * 1_000_000, int(span.end.timestamp()) * 1_000_000
        expected = {
            k: v for k, v in candles(silver, spec.candle_seconds).items() if start <= int(str(k[2])) < end
        }
        actual = {tuple(row[:3]): row for row in rows}
        wrong = sorted((k for k in set(expected) | set(actual) if expected.get(k) != actual.get(k)), key=repr)
        result.gold_candles_recomputed += len(expected)
        if wrong:
            result.anomalies.append(
                Anomaly(
                    "gold mismatch",
                    name,
                    span.start.isoformat(),
                    len(wrong),
                    [repr(k) for k in wrong[:SAMPLE]],
                )
            )


def _local(path: str) -> Path:
    return Path(urlparse(path).path) if path.startswith("file:") else Path(path)


def verify_files(result: Verification, table: Table, name: str) -> None:
    """Every manifest list, manifest and live data file of every retained snapshot exists."""
    seen: set[str] = set()
    missing: list[str] = []
    for snapshot in table.metadata.snapshots:
        paths = [snapshot.manifest_list]
        for manifest in snapshot.manifests(table.io):
            paths.append(manifest.manifest_path)
            if manifest.manifest_path not in seen:
                paths.extend(entry.data_file.file_path for entry in manifest.fetch_manifest_entry(table.io))
        for path in paths:
            if path not in seen:
                seen.add(path)
                if not _local(path).exists():
                    missing.append(path)
    result.files_checked += len(seen)
    if missing:
        result.anomalies.append(Anomaly("dangling file", name, "", len(missing), missing[:SAMPLE]))


def verify_all(
    settings: Settings, warm: WarmTier, catalog: Catalog, since: datetime, until: datetime
) -> Verification:
    """Verify every window of every table from ``since`` up to the windows closed at ``until``."""
    from coldtier_assets.offload.sink import read_ledger

    result = Verification()
    silver: list[Row] = []
    gold: dict[str, tuple[TableSpec, list[Row], Window]] = {}
    for spec in TABLES:
        length = spec.window(settings.window)
        start, end = _floor(since, length), closed_window_end(until, length, settings.allowed_lateness)
        table = catalog.load_table((settings.namespace, spec.name))
        verify_files(result, table, spec.name)
        if end <= start:
            result.windows[spec.name] = 0
            continue
        span = Window(start, end)
        rows = verify_table(result, warm, table, read_ledger(table), spec, span, length)
        if spec.name == "silver_trades":
            silver = rows
        elif spec.layer == "gold":
            gold[spec.name] = (
                spec,
                [
                    tuple(row[[f.name for f in table.schema().fields].index(c)] for c in GOLD_COLUMNS)
                    for row in rows
                ],
                span,
            )
    verify_gold(result, silver, gold)
    return result
