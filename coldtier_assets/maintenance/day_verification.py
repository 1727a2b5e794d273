"""Verify warm days against the cold tier: every window of every table that holds the day.

A day may leave the warm tier only when, for every table that holds it (the Bronze and Silver tables
with a partition for it and, when Silver holds it, every Gold table), every window of the day is in
that table's cold ledger and :func:`~coldtier_assets.offload.verify.verify_windows` finds warm and
cold equal (row count and checksum). A window already purged from the warm side but present in the
cold tier also passes. Anything else is a :class:`Blocker` that names the table and window.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from pyiceberg.catalog import Catalog
from pyiceberg.schema import Schema

from coldtier_assets.config import Settings
from coldtier_assets.maintenance import holding
from coldtier_assets.maintenance.warm_days import DayPartition, day_window
from coldtier_assets.offload.verify import Verdict, verify_windows
from coldtier_assets.offload.windows import Window, split_windows
from coldtier_assets.redact import redact
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.tables import TABLES, TableSpec

#: Verdicts that let a day go: the cold tier holds what the warm tier holds (or held).
SAFE_VERDICTS = frozenset({Verdict.MATCH, Verdict.PURGED})


@dataclass(frozen=True)
class Blocker:
    """Why a day must stay: a window of a table that is not (verifiably) in the cold tier."""

    table: str
    window: Window | None
    problem: str

    def __str__(self) -> str:
        where = f" window {self.window}" if self.window is not None else ""
        return f"{self.table}{where}: {self.problem}"


def tables_holding(partitions: list[DayPartition]) -> list[TableSpec]:
    """Registry tables to verify for a day: the warm tables that hold it, plus Gold when Silver does."""
    held = {partition.table for partition in partitions}
    return [
        spec
        for spec in TABLES
        if spec.name in held or (spec.layer == "gold" and any(up in held for up in spec.upstream))
    ]


@dataclass
class Verification:
    """What verification found: blockers per day, the cold figures per (table, day) and window."""

    blockers: dict[date, list[Blocker]]
    cold: dict[tuple[str, date], dict[Window, holding.Figures]]
    schemas: dict[str, Schema]


def find_blockers(
    settings: Settings, warm: WarmTier, catalog: Catalog, days: dict[date, list[DayPartition]]
) -> Verification:
    """For each day (given its warm partitions), every window of every table that stops it being dropped."""
    days_by_table: dict[str, list[date]] = defaultdict(list)
    for day, partitions in days.items():
        for spec in tables_holding(partitions):
            days_by_table[spec.name].append(day)
    result = Verification(blockers={day: [] for day in days}, cold=defaultdict(dict), schemas={})
    for spec in TABLES:
        table_days = sorted(days_by_table.get(spec.name, []))
        if not table_days:
            continue
        length = spec.window(settings.window)
        windows = [
            window
            for day in table_days
            for window in split_windows(day_window(day).start, day_window(day).end, length)
        ]
        try:
            table = catalog.load_table((settings.namespace, spec.name))
            with warm.session():  # one warm session for the table's few queries
                checks = verify_windows(settings, warm, table, spec, windows)
            result.schemas[spec.name] = table.schema()
        except Exception as error:
            for day in table_days:
                result.blockers[day].append(
                    Blocker(spec.name, None, redact(f"could not verify: {type(error).__name__}: {error}"))
                )
            continue
        for check in checks:
            day = check.window.start.date()
            result.cold[(spec.name, day)][check.window] = (check.cold_rows, check.cold_checksum)
            if check.verdict not in SAFE_VERDICTS:
                detail = (
                    f"{check.verdict.value} (warm {check.warm_rows} rows {check.warm_checksum:016x}, "
                    f"cold {check.cold_rows} rows {check.cold_checksum:016x})"
                )
                result.blockers[day].append(Blocker(spec.name, check.window, detail))
    return result


def describe(blockers: list[Blocker], limit: int = 5) -> str:
    """The first ``limit`` blockers, and how many more."""
    shown = "; ".join(str(blocker) for blocker in blockers[:limit])
    more = f"; and {len(blockers) - limit} more" if len(blockers) > limit else ""
    return shown + more
