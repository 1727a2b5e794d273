"""The purge guard: a re-copy never shrinks a committed window below what the warm tier can prove.

A window is refused (:class:`~coldtier_assets.errors.WarmDataPurgedError`, naming the table, the
window and both counts) when the warm tier now holds fewer rows for it than the cold copy, or when
it lies in a day that retention dropped from the warm tier (recorded in the maintenance audit log)
and the copy would change it. Examples: one resent trade arrives for a dropped day and the day is
then backfilled; a window is emptied between planning and reading. ``force`` lets an operator who
really means it replace the cold window anyway.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
from pyiceberg.table import Table
from sqlalchemy import select

from coldtier_assets.errors import WarmDataPurgedError
from coldtier_assets.maintenance.audit_log import AUDIT_LOG_TABLE, audit_log_engine
from coldtier_assets.offload.sink import window_filter
from coldtier_assets.offload.windows import Window
from coldtier_assets.tables import TableSpec

#: How retention's audit-log message of a dropped day starts (see ``maintenance.retention``).
_DROPPED = re.compile(r"^dropped: every window of (\d{4}-\d{2}-\d{2}) ")


def dropped_days(catalog_uri: str, warm_tables: Iterable[str]) -> set[date]:
    """The days retention dropped from any of the given warm tables, from the audit log."""
    log = AUDIT_LOG_TABLE.c
    query = select(log.message).where(
        log.action == "retention", log.outcome == "success", log.table_name.in_(list(warm_tables))
    )
    with audit_log_engine(catalog_uri).connect() as connection:
        messages = connection.execute(query).scalars().all()
    return {date.fromisoformat(m.group(1)) for m in map(_DROPPED.match, messages) if m is not None}


def warm_sources(spec: TableSpec) -> set[str]:
    """The warm tables whose dropped days empty this table's warm windows (Gold reads Silver)."""
    return {spec.name, *spec.upstream} if spec.layer == "gold" else {spec.name}


def cold_counts(table: Table, spec: TableSpec, windows: list[Window]) -> dict[Window, int]:
    """Rows per window in the committed cold table (only the time column is read)."""
    if not windows:
        return {}
    scan = table.scan(
        row_filter=window_filter(spec.time_column, Window(windows[0].start, windows[-1].end)),
        selected_fields=(spec.time_column,),
    )
    if not any(True for _ in scan.plan_files()):
        return {}
    times = scan.to_arrow().column(spec.time_column).cast(pa.timestamp("us", tz="UTC"))
    micros = np.asarray(times.to_numpy(), dtype="datetime64[us]").astype(np.int64)
    start = int(windows[0].start.timestamp() * 1_000_000)
    length = int((windows[0].end - windows[0].start) / timedelta(microseconds=1))
    counts = np.bincount((micros - start) // length, minlength=len(windows))
    return {window: int(counts[i]) for i, window in enumerate(windows) if counts[i]}


def _days(window: Window) -> set[date]:
    last = window.end - timedelta(microseconds=1)
    return {
        window.start.date() + timedelta(days=n) for n in range((last.date() - window.start.date()).days + 1)
    }


@dataclass(frozen=True)
class PurgeGuard:
    """What the guard knows about one table's windows: cold counts and the days retention dropped."""

    spec: TableSpec
    cold: dict[Window, int]
    dropped: set[date]
    force: bool

    def problem(self, window: Window, warm_rows: int) -> str | None:
        """Why copying ``warm_rows`` rows over the window would lose cold rows (``None`` if it would not)."""
        cold_rows = self.cold.get(window, 0)
        if warm_rows < cold_rows:
            return f"window {window}: ClickHouse has {warm_rows} row(s), the cold copy {cold_rows}"
        dropped = sorted(self.dropped & _days(window))
        if dropped and (warm_rows or cold_rows):
            return (
                f"window {window}: ClickHouse has {warm_rows} row(s), the cold copy {cold_rows}, "
                f"and retention dropped {dropped[0]} from the warm tier"
            )
        return None

    def check(self, windows: Iterable[tuple[Window, int]]) -> None:
        """Raise :class:`WarmDataPurgedError` for the windows that would lose cold rows (unless forced)."""
        if self.force:
            return
        problems = [p for window, rows in windows if (p := self.problem(window, rows)) is not None]
        if problems:
            shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
            raise WarmDataPurgedError(
                f"{self.spec.name}: {shown}. The warm data was purged or deleted — refusing to delete the "
                "cold copy's rows (coldtier offload --force, or the run tag coldtier/force=true, replaces "
                "the window anyway)"
            )


def purge_guard(
    table: Table, spec: TableSpec, windows: list[Window], catalog_uri: str, *, force: bool
) -> PurgeGuard:
    """The guard for ``windows`` of ``spec``: reads the cold counts and the dropped days once."""
    if force:
        return PurgeGuard(spec, {}, set(), force=True)
    return PurgeGuard(
        spec, cold_counts(table, spec, windows), dropped_days(catalog_uri, warm_sources(spec)), False
    )
