"""Snapshot expiry that keeps the exactly-once ledger: old snapshots go, the ledger stays.

The ledger lives in the ``coldtier.ledger`` table property, which expiry does not touch; a table
still written the old way (ledger only in snapshot summaries) is migrated first
(:func:`~coldtier_assets.offload.sink.migrate_ledger`); should that not apply, the rules below keep
the summary chain. Expired: snapshots older than ``snapshot_max_age``. Always kept: the newest
``min_snapshots_to_keep`` snapshots of the main branch (the current one among them), every branch and
tag head, snapshots the caller protects, and the whole chain from the current snapshot down to the
newest snapshot carrying ``coldtier.ledger`` — :func:`~coldtier_assets.offload.sink.read_ledger`
walks that chain by parent id, so a gap in it would lose the ledger and with it the watermark.
Before committing, the ledger that would remain is computed on the pruned metadata and must equal
today's; after committing it is read back and checked again.

The removal uses pyiceberg's ``ExpireSnapshots`` (``table.maintenance.expire_snapshots().by_ids``),
which only edits metadata. Files that only expired snapshots referenced become unreferenced and
are deleted by orphan-file removal (they are older than its age guard by construction).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.snapshots import Snapshot

from coldtier_assets.errors import ColdtierError
from coldtier_assets.maintenance.policy import MaintenancePolicy
from coldtier_assets.offload.retry import retry_conflicts
from coldtier_assets.offload.sink import (
    LEDGER_KEY,
    _without_internal_retries,
    coldtier_property,
    migrate_ledger,
    read_ledger,
)
from coldtier_assets.offload.windows import Ledger, utc

log = logging.getLogger(__name__)


class ExpiryError(ColdtierError):
    """Snapshot expiry could not be completed, or would have lost the ledger (then nothing is expired)."""


@dataclass(frozen=True)
class ExpiryPlan:
    """Which snapshots to expire and which are kept on purpose."""

    expire: tuple[int, ...]
    kept: tuple[int, ...]
    ledger_snapshot_id: int | None


@dataclass(frozen=True)
class ExpiryResult:
    """What one :func:`expire_snapshots` call did."""

    table: str
    expired: tuple[int, ...]
    snapshots_before: int
    snapshots_after: int
    ledger: Ledger


def _ancestors(metadata: TableMetadata, removed: frozenset[int] = frozenset()) -> list[Snapshot]:
    """Main's ancestry from the current snapshot, stopping where a parent is missing or removed."""
    chain: list[Snapshot] = []
    snapshot = metadata.current_snapshot()
    while snapshot is not None and snapshot.snapshot_id not in removed:
        chain.append(snapshot)
        parent = snapshot.parent_snapshot_id
        snapshot = metadata.snapshot_by_id(parent) if parent is not None else None
    return chain


def _ledger_of(metadata: TableMetadata, removed: frozenset[int] = frozenset()) -> Ledger:
    """What :func:`read_ledger` returns once ``removed`` snapshots are gone."""
    if LEDGER_KEY in metadata.properties:
        return Ledger.decode(metadata.properties[LEDGER_KEY])
    for snapshot in _ancestors(metadata, removed):
        text = coldtier_property(snapshot, LEDGER_KEY)
        if text is not None:
            return Ledger.decode(text)
    return Ledger()


def plan_expiry(
    table: Table, now: datetime, policy: MaintenancePolicy, protect: Iterable[int] = ()
) -> ExpiryPlan:
    """Snapshots older than the policy's age that nothing requires; never the current one."""
    metadata = table.metadata
    ancestors = _ancestors(metadata)
    chain: list[int] = []  # the chain read_ledger walks, down to the newest ledger carrier
    ledger_snapshot_id = None
    for snapshot in ancestors if LEDGER_KEY not in metadata.properties else ():
        chain.append(snapshot.snapshot_id)
        if coldtier_property(snapshot, LEDGER_KEY) is not None:
            ledger_snapshot_id = snapshot.snapshot_id
            break
    keep = {snapshot.snapshot_id for snapshot in ancestors[: policy.min_snapshots_to_keep]}
    keep |= {ref.snapshot_id for ref in metadata.refs.values()}
    keep |= set(protect)
    keep |= set(chain) if ledger_snapshot_id is not None else set()
    cutoff_ms = int((utc(now) - policy.snapshot_max_age).timestamp() * 1000)
    expire = tuple(
        s.snapshot_id for s in metadata.snapshots if s.timestamp_ms < cutoff_ms and s.snapshot_id not in keep
    )
    return ExpiryPlan(expire=expire, kept=tuple(sorted(keep)), ledger_snapshot_id=ledger_snapshot_id)


def expire_snapshots(
    catalog: Catalog,
    identifier: tuple[str, str],
    now: datetime,
    policy: MaintenancePolicy | None = None,
    *,
    protect: Iterable[int] = (),
) -> ExpiryResult:
    """Expire the table's old snapshots (see the module docstring), retrying on concurrent commits."""
    policy = policy or MaintenancePolicy()
    protect = tuple(protect)
    name = ".".join(identifier)
    migrate_ledger(catalog, identifier)

    def attempt(_: int) -> ExpiryResult:
        table = catalog.load_table(identifier)
        before = len(table.metadata.snapshots)
        ledger = read_ledger(table)
        plan = plan_expiry(table, now, policy, protect)
        if not plan.expire:
            return ExpiryResult(name, (), before, before, ledger)
        if _ledger_of(table.metadata, frozenset(plan.expire)) != ledger:
            raise ExpiryError(
                f"{name}: expiring {len(plan.expire)} snapshots would change the ledger; kept all"
            )
        try:
            _without_internal_retries(table).maintenance.expire_snapshots().by_ids(list(plan.expire)).commit()
        except ValueError as error:  # a snapshot to expire is gone: a concurrent expiry, did not land
            raise CommitFailedException(str(error)) from error
        after_table = catalog.load_table(identifier)
        after_ledger = read_ledger(after_table)
        if Ledger(Ledger.merge((*ledger.ranges, *after_ledger.ranges))) != after_ledger:
            raise ExpiryError(
                f"{name}: the ledger changed across snapshot expiry: {ledger} -> {after_ledger}"
            )
        log.info("expired %d snapshots of %s", len(plan.expire), name)
        return ExpiryResult(name, plan.expire, before, len(after_table.metadata.snapshots), after_ledger)

    return retry_conflicts(
        attempt,
        attempts=policy.max_commit_attempts,
        conflicts=(CommitFailedException,),
        what=f"the snapshot expiry of {name}",
        error=ExpiryError,
    )
