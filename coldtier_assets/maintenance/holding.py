"""Drop a warm day partition without losing rows inserted after it was verified.

Retention verifies a day, then, instead of ``DROP PARTITION`` on the live table (which would take
rows inserted in between with it), it **moves** the partition into a holding table of the same
structure (``ALTER TABLE t MOVE PARTITION ID p TO TABLE t_retention_p``). Rows inserted after the
move land in the live table again and stay there. The moved rows are verified once more against
the cold tier's figures, per window, by row count **and** checksum; only when every window matches
(or held no warm rows) is the holding table dropped. Otherwise the partition is moved back and the
day is kept. A holding table left over by an interrupted run is moved back before anything else.
"""

from __future__ import annotations

import logging

from pyiceberg.schema import Schema

from coldtier_assets.offload.verify import by_window, checksum_query
from coldtier_assets.offload.windows import Window
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.tables import TableSpec

log = logging.getLogger(__name__)

#: (rows, checksum) of a window.
Figures = tuple[int, int]


def holding_table(table: str, partition_id: str) -> str:
    """The name of the holding table for one day partition of a warm table."""
    return f"{table}_retention_{partition_id}"


def _exists(warm: WarmTier, name: str) -> bool:
    rows = warm.rows(
        "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = {n:String}",
        {"n": name},
    )
    return int(str(rows[0][0])) > 0


def restore(warm: WarmTier, holding: str, table: str) -> int:
    """Move every partition of a holding table back into ``table`` and drop it; returns the rows moved."""
    if not _exists(warm, holding):
        return 0
    parts = warm.rows(
        "SELECT partition_id, sum(rows) FROM system.parts WHERE database = currentDatabase() AND active "
        "AND table = {t:String} GROUP BY partition_id",
        {"t": holding},
    )
    for partition_id, _ in parts:
        warm.command(f"ALTER TABLE `{holding}` MOVE PARTITION ID '{partition_id}' TO TABLE `{table}`")
    warm.command(f"DROP TABLE `{holding}` SYNC")
    moved = sum(int(str(rows)) for _, rows in parts)
    if moved:
        log.warning("moved %d row(s) from holding table %s back into %s", moved, holding, table)
    return moved


def restore_leftovers(warm: WarmTier, tables: list[str]) -> int:
    """Move back the holding tables an interrupted retention left behind; returns the rows moved."""
    names = warm.rows(
        "SELECT name FROM system.tables WHERE database = currentDatabase() AND match(name, '_retention_[0-9]+$')"
    )
    moved = 0
    for (name,) in names:
        table = str(name).rsplit("_retention_", 1)[0]
        if table in tables:
            moved += restore(warm, str(name), table)
    return moved


def move_aside(warm: WarmTier, table: str, partition_id: str) -> str:
    """Move one day partition of ``table`` into a fresh holding table; returns the holding table's name."""
    holding = holding_table(table, partition_id)
    restore(warm, holding, table)  # a leftover of an interrupted run goes back first, never dropped
    warm.command(f"CREATE TABLE `{holding}` AS `{table}`")
    warm.command(f"ALTER TABLE `{table}` MOVE PARTITION ID '{partition_id}' TO TABLE `{holding}`")
    return holding


def held_figures(
    warm: WarmTier, holding: str, spec: TableSpec, schema: Schema, windows: list[Window]
) -> dict[Window, Figures]:
    """(rows, checksum) per window of the holding table, as verification computes them (FINAL)."""
    sql, length = checksum_query(schema, spec, f"`{holding}` FINAL", windows)
    return by_window(warm.rows(sql), windows, length)


def differences(held: dict[Window, Figures], cold: dict[Window, Figures]) -> list[tuple[Window, str]]:
    """Windows whose moved rows the cold tier does not hold exactly (an empty window is fine)."""
    problems = []
    for window, figures in sorted(held.items()):
        cold_figures = cold.get(window, (0, 0))
        if figures != (0, 0) and figures != cold_figures:
            problems.append(
                (
                    window,
                    f"moved aside {figures[0]} rows {figures[1]:016x}, "
                    f"cold {cold_figures[0]} rows {cold_figures[1]:016x}",
                )
            )
    return problems


def drop_verified(
    warm: WarmTier, spec: TableSpec, partition_id: str, schema: Schema, cold: dict[Window, Figures]
) -> list[tuple[Window, str]]:
    """Move the partition aside, re-verify it against ``cold`` and drop it, or move it back.

    ``cold`` holds the cold figures of every window of the partition's day. Returns the windows
    that changed since verification (then the partition is back in the live table), else drops.
    """
    with warm.session():  # embedded: no other process in between; a server: inserts land in the live table
        held = move_aside(warm, spec.name, partition_id)
        try:
            changed = differences(held_figures(warm, held, spec, schema, sorted(cold)), cold)
        except BaseException:
            restore(warm, held, spec.name)
            raise
        if changed:
            restore(warm, held, spec.name)
        else:
            warm.command(f"DROP TABLE `{held}` SYNC")
    return changed
