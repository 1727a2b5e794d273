"""Row-count audit: maintenance must leave the table's rows and checksum exactly as they were.

The fingerprint of a snapshot is its row count and the same content checksum the warm-cold check
uses (``sum(cityHash64(…))`` over every row, computed by ClickHouse over the Iceberg files with
:func:`~coldtier_assets.offload.cold_engine.cold_rows`), read *at that snapshot*
(``iceberg_snapshot_id``). The runner fingerprints the current snapshot before maintenance and the
current snapshot after it: reading the files again after orphan removal also proves no referenced
file was deleted.

Window commits may land while maintenance runs. Their windows (from the ``coldtier.window-*``
summary properties) are then left out on both sides, so the comparison still covers every other
row; a foreign commit that names no window makes the audit inconclusive (``skipped``). A
``replace`` snapshot (Iceberg's operation for a rewrite that keeps the data, which Spark's
``rewrite_data_files`` writes without coldtier's summary) counts as maintenance: the fingerprints
before and after prove it kept every row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pyiceberg.table import Table
from pyiceberg.table.snapshots import Operation, Snapshot

from coldtier_assets.config import Settings
from coldtier_assets.maintenance.compaction import MAINTENANCE_KEY
from coldtier_assets.offload.cold_engine import cold_rows, committed_table_function
from coldtier_assets.offload.sink import PREFIX, coldtier_property
from coldtier_assets.offload.source import row_hash_expression, sql_time
from coldtier_assets.offload.windows import Window
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.tables import TableSpec


@dataclass(frozen=True)
class Fingerprint:
    """Rows and content checksum of one snapshot (optionally leaving some windows out)."""

    snapshot_id: int
    rows: int
    checksum: int

    @property
    def checksum_hex(self) -> str:
        """The checksum as 16 hex digits."""
        return f"{self.checksum:016x}"


@dataclass(frozen=True)
class AuditResult:
    """The outcome of comparing a table before and after maintenance."""

    table: str
    before: Fingerprint
    after: Fingerprint
    excluded: tuple[Window, ...] = ()
    conclusive: bool = True
    reason: str = ""
    foreign_snapshots: tuple[int, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when the comparison was possible and found equal rows and checksum."""
        return self.conclusive and (self.before.rows, self.before.checksum) == (
            self.after.rows,
            self.after.checksum,
        )

    @property
    def message(self) -> str:
        """A one-line summary for the audit log."""
        if not self.conclusive:
            return f"inconclusive: {self.reason}"
        scope = f" outside {len(self.excluded)} re-committed window(s)" if self.excluded else ""
        state = "unchanged" if self.ok else "CHANGED"
        return (
            f"rows and checksum {state}{scope}: {self.before.rows} rows {self.before.checksum_hex} "
            f"(snapshot {self.before.snapshot_id}) -> {self.after.rows} rows {self.after.checksum_hex} "
            f"(snapshot {self.after.snapshot_id})"
        )


def _exclusion(time_column: str, windows: Sequence[Window]) -> str:
    column = f"`{time_column}`"
    terms = [f"NOT ({column} >= {sql_time(w.start)} AND {column} < {sql_time(w.end)})" for w in windows]
    return f" WHERE {' AND '.join(terms)}" if terms else ""


def fingerprints(
    settings: Settings,
    warm: WarmTier,
    table: Table,
    spec: TableSpec,
    snapshot_ids: Iterable[int],
    exclude: Sequence[Window] = (),
) -> dict[int, Fingerprint]:
    """Fingerprints of several snapshots of one table, in one ClickHouse query."""
    ids = list(dict.fromkeys(snapshot_ids))
    if not ids:
        return {}
    source = committed_table_function(table)
    row_hash = row_hash_expression(table.schema())
    where = _exclusion(spec.time_column, exclude)
    sql = " UNION ALL ".join(
        f"SELECT '{snapshot_id}' AS snapshot, count() AS rows, sum({row_hash}) AS checksum "
        f"FROM (SELECT * FROM {source} SETTINGS iceberg_snapshot_id = {snapshot_id}){where}"
        for snapshot_id in ids
    )
    result = {}
    for snapshot, rows, checksum in cold_rows(settings, warm, sql):
        snapshot_id = int(str(snapshot))
        result[snapshot_id] = Fingerprint(snapshot_id, int(str(rows)), int(str(checksum)))
    return result


def _is_rewrite(snapshot: Snapshot) -> bool:
    """Iceberg's ``replace`` operation: files rewritten without changing the table's data (Spark's compaction)."""
    return snapshot.summary is not None and snapshot.summary.operation == Operation.REPLACE


def _commits_between(table: Table, before_id: int) -> tuple[list[int], list[Window], list[int]] | None:
    """Snapshots after ``before_id`` on main: (maintenance ones, windows of window commits, foreign ones).

    ``None`` when ``before_id`` is no longer an ancestor of the current snapshot.
    """
    maintenance: list[int] = []
    windows: list[Window] = []
    foreign: list[int] = []
    snapshot = table.current_snapshot()
    while snapshot is not None and snapshot.snapshot_id != before_id:
        start = coldtier_property(snapshot, PREFIX + "window-start")
        end = coldtier_property(snapshot, PREFIX + "window-end")
        if coldtier_property(snapshot, MAINTENANCE_KEY) is not None or _is_rewrite(snapshot):
            maintenance.append(snapshot.snapshot_id)
        elif start and end:
            windows.append(Window(datetime.fromisoformat(start), datetime.fromisoformat(end)))
        else:
            foreign.append(snapshot.snapshot_id)
        parent = snapshot.parent_snapshot_id
        snapshot = table.metadata.snapshot_by_id(parent) if parent is not None else None
    if snapshot is None:
        return None
    return maintenance, sorted(set(windows)), foreign


def audit_table(
    settings: Settings,
    warm: WarmTier,
    table: Table,
    spec: TableSpec,
    before: Fingerprint,
) -> AuditResult:
    """Compare the table's current snapshot with ``before`` (taken by :func:`fingerprints` earlier).

    ``before.snapshot_id`` must still exist (the runner protects it from expiry).
    """
    name = f"{settings.namespace}.{spec.name}"
    current = table.current_snapshot()
    if current is None:
        empty = Fingerprint(0, 0, 0)
        return AuditResult(name, before, empty, conclusive=False, reason="the table has no current snapshot")
    between = _commits_between(table, before.snapshot_id)
    if between is None:
        after = fingerprints(settings, warm, table, spec, [current.snapshot_id])[current.snapshot_id]
        reason = f"snapshot {before.snapshot_id} is no longer an ancestor of the current snapshot"
        return AuditResult(name, before, after, conclusive=False, reason=reason)
    _, windows, foreign = between
    if foreign:
        after = fingerprints(settings, warm, table, spec, [current.snapshot_id])[current.snapshot_id]
        reason = f"{len(foreign)} commit(s) by another writer landed during maintenance"
        return AuditResult(
            name, before, after, conclusive=False, reason=reason, foreign_snapshots=tuple(foreign)
        )
    if not windows:
        after = fingerprints(settings, warm, table, spec, [current.snapshot_id])[current.snapshot_id]
        return AuditResult(name, before, after)
    both = fingerprints(settings, warm, table, spec, [before.snapshot_id, current.snapshot_id], windows)
    return AuditResult(name, both[before.snapshot_id], both[current.snapshot_id], excluded=tuple(windows))
