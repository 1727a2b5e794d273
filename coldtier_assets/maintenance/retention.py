"""Guarded warm retention: drop a ClickHouse day only when the cold tier verifiably holds all of it.

The warm tables with day partitions are the Bronze tables, ``silver_trades`` and ``rejected_trades``
(``PARTITION BY toYYYYMMDD(trade time)``); Gold tables are views over Silver, so dropping a Silver
day also empties that day's candles. A day older than the retention is dropped — from every table
that still holds it, with ``ALTER TABLE … DROP PARTITION ID`` — only when, for **every** table that
holds the day (the Bronze and Silver tables with a partition for it and, when Silver holds it, every
Gold table), every window of the day is in that table's cold ledger and
:func:`~coldtier_assets.offload.verify.verify_windows` finds warm and cold equal (row count and
checksum). A window already purged from the warm side but present in the cold tier also passes.
Otherwise the day is kept everywhere, and each decision says which table and window stopped it
(the partitions are listed by :mod:`~coldtier_assets.maintenance.warm_days`, the days verified by
:mod:`~coldtier_assets.maintenance.day_verification`).
A verified partition is not dropped in place: it is moved aside into a holding table, its rows are
verified once more against the cold figures (count and checksum, see
:mod:`~coldtier_assets.maintenance.holding`), and only then is the holding table dropped; rows
inserted after the first verification are either moved back (the day is kept) or, inserted after
the move, stay in the live table.

Each decision is written to the ``maintenance_audit_log`` (action ``retention``), except in a dry run.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pyiceberg.catalog import Catalog

from coldtier_assets.config import Settings
from coldtier_assets.errors import ColdtierError
from coldtier_assets.maintenance import holding
from coldtier_assets.maintenance.audit_log import AuditRow, Outcome, write_audit_row
from coldtier_assets.maintenance.day_verification import Blocker, Verification, describe, find_blockers
from coldtier_assets.maintenance.warm_days import DayPartition, day_partitions, day_window, partitioned_tables
from coldtier_assets.offload.windows import utc
from coldtier_assets.redact import redact
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.tables import get_table

log = logging.getLogger(__name__)


class RetentionError(ColdtierError):
    """The retention arguments are invalid."""


@dataclass(frozen=True)
class RetentionDecision:
    """What retention did (or, in a dry run, would do) with one ClickHouse day partition."""

    table: str
    day: date
    partition_id: str
    rows: int
    bytes: int
    parts: int
    drop: bool
    dropped: bool
    dry_run: bool
    reason: str
    blockers: tuple[Blocker, ...] = ()

    @property
    def outcome(self) -> Outcome:
        """``success`` when dropped, ``failed`` when the drop was attempted and failed, else ``skipped``."""
        if self.dropped:
            return "success"
        return "failed" if self.drop and not self.dry_run else "skipped"


def apply_retention(
    settings: Settings,
    warm: WarmTier,
    catalog: Catalog,
    retention_days: int,
    now: datetime | None = None,
    dry_run: bool = False,
    on_verified: Callable[[DayPartition], None] | None = None,
) -> list[RetentionDecision]:
    """Drop the warm days older than ``retention_days`` that the cold tier verifiably holds.

    A day qualifies when it ended at least ``retention_days`` days before ``now``. Returns one
    decision per ClickHouse day partition considered (dropped, kept and why, or, in a dry run, what
    would happen); writes one audit-log row per decision unless ``dry_run``. ``on_verified`` is
    called for each partition between its verification and its move aside (a test hook).
    """
    if retention_days < 1:
        raise RetentionError(f"retention_days must be at least 1, got {retention_days}")
    now = utc(now or datetime.now(UTC))
    cutoff = now - timedelta(days=retention_days)
    if not dry_run:
        with warm.session():
            holding.restore_leftovers(warm, [spec.name for spec in partitioned_tables()])
    old = [p for p in day_partitions(warm, partitioned_tables()) if day_window(p.day).end <= cutoff]
    by_day: dict[date, list[DayPartition]] = defaultdict(list)
    for partition in old:
        by_day[partition.day].append(partition)
    verification = find_blockers(settings, warm, catalog, by_day)
    decisions: list[RetentionDecision] = []
    for day in sorted(by_day):
        day_blockers = tuple(verification.blockers[day])
        for partition in by_day[day]:
            started, clock = datetime.now(UTC), time.monotonic()
            if on_verified is not None and not day_blockers and not dry_run:
                on_verified(partition)
            decision = _decide(warm, partition, day_blockers, verification, dry_run)
            decisions.append(decision)
            if not dry_run:
                _log(settings, decision, started, time.monotonic() - clock)
    return decisions


def _decide(
    warm: WarmTier,
    partition: DayPartition,
    blockers: tuple[Blocker, ...],
    verification: Verification,
    dry_run: bool,
) -> RetentionDecision:
    common: dict[str, Any] = {
        "table": partition.table,
        "day": partition.day,
        "partition_id": partition.partition_id,
        "rows": partition.rows,
        "bytes": partition.bytes,
        "parts": partition.parts,
        "dry_run": dry_run,
    }
    if blockers:
        reason = f"kept {partition.day}: not verified in the cold tier: {describe(list(blockers))}"
        return RetentionDecision(drop=False, dropped=False, reason=reason, blockers=blockers, **common)
    verified = f"every window of {partition.day} is verified in the cold tier"
    if dry_run:
        return RetentionDecision(
            drop=True, dropped=False, reason=f"dry run: would drop: {verified}", **common
        )
    try:
        changed = _drop_via_holding(warm, partition, verification)
    except Exception as error:
        reason = redact(f"drop of {partition.day} failed: {type(error).__name__}: {error}")
        return RetentionDecision(drop=True, dropped=False, reason=reason, **common)
    if changed:
        reason = f"kept {partition.day}: changed since verification: {describe(changed)}"
        return RetentionDecision(drop=False, dropped=False, reason=reason, blockers=tuple(changed), **common)
    log.info("dropped warm day %s of %s (%d rows)", partition.day, partition.table, partition.rows)
    return RetentionDecision(drop=True, dropped=True, reason=f"dropped: {verified}", **common)


def _drop_via_holding(warm: WarmTier, partition: DayPartition, verification: Verification) -> list[Blocker]:
    """Move the partition aside, re-verify it against cold, then drop it or move it back (blockers)."""
    spec = get_table(partition.table)
    cold = verification.cold[(spec.name, partition.day)]
    schema = verification.schemas[spec.name]
    changed = holding.drop_verified(warm, spec, partition.partition_id, schema, cold)
    return [Blocker(spec.name, window, text) for window, text in changed]


def _log(settings: Settings, decision: RetentionDecision, started: datetime, seconds: float) -> None:
    write_audit_row(
        settings.catalog_uri,
        AuditRow(
            table_name=decision.table,
            action="retention",
            started_at=started,
            duration_seconds=round(seconds, 3),
            outcome=decision.outcome,
            message=decision.reason,
            files_before=decision.parts,
            files_after=0 if decision.dropped else decision.parts,
            bytes_before=decision.bytes,
            bytes_after=0 if decision.dropped else decision.bytes,
            rows_before=decision.rows,
            rows_after=0 if decision.dropped else decision.rows,
        ),
    )
