"""The Iceberg side of a window: write data files, then replace the window in one commit.

A commit deletes the window's rows, appends the new files and sets the table property
``coldtier.ledger`` (the merged ranges of committed windows) in **one** catalog commit (one
metadata file). Table properties survive other engines' commits and snapshot expiry (Spark's
``rewrite_data_files``, ``expire_snapshots(retain_last => 1)``, a foreign ``INSERT``), which
snapshot summaries do not. The snapshot summaries stay the audit trail: window, source row count,
checksum, run id and a commit id. Conflicts are retried against fresh metadata (recomputing the
ledger); an unknown outcome is resolved by looking for the commit id in the table's snapshots.

A commit may replace a *span* of consecutive windows at once (a catch-up's batch, see
``offload/pipeline.py``): the delete covers the span, the ledger gains the whole span, and the summary
records each non-empty window's rows and checksum under ``coldtier.windows``.

**History stays bounded, so a commit costs the same after a week as after maintenance** (issue #13,
measured in ``benchmarks/RESULTS.md``). Every window commit makes sure the table has the
``history_bounds.HISTORY_PROPERTIES`` (an operator's own value is kept): pyiceberg then merges manifests as
commits land (at most ``commit.manifest.min-count-to-merge`` live manifests), and the commit itself
expires the oldest snapshots beyond ``coldtier.history.max-snapshots``. **Time travel therefore
reaches the last 100 snapshots** (about a day of 15-minute windows; each catch-up batch is one
snapshot), or less when the daily maintenance's 7-day expiry is shorter; the ledger (a property)
does not depend on snapshots. The files only expired snapshots referenced are left to orphan-file
removal, whose age guard keeps them at least a day. ``write.metadata.previous-versions-max`` with
``write.metadata.delete-after-commit.enabled`` (in ``ddl/``) bounds the metadata files as before.
The pyiceberg transaction re-applies (and deep-copies) the whole metadata each time a snapshot
producer looks at it; ``history_bounds.CachedTransaction`` does that once per staged change.

Tables written before the property existed kept the ledger only in snapshot summaries:
:func:`read_ledger` falls back to the newest one. The first coldtier touch writes the property:
``init`` and snapshot expiry through :func:`migrate_ledger` (a commit of its own), an offload
through its first window commit (the summary ledger plus the window, atomically with the data).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import And, BooleanExpression, GreaterThanOrEqual, LessThan
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table, TableProperties, Transaction
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.table.update import AssertRefSnapshotId, RemoveSnapshotsUpdate, SetPropertiesUpdate

from coldtier_assets.errors import CommitError, CommitNotLandedError
from coldtier_assets.offload.history_bounds import (
    CachedTransaction,
    missing_history_properties,
    snapshots_to_expire,
)
from coldtier_assets.offload.retry import OutcomeUnknownError, retry_conflicts
from coldtier_assets.offload.windows import Ledger, Window

log = logging.getLogger(__name__)

PREFIX = "coldtier."
LEDGER_KEY = PREFIX + "ledger"
COMMIT_ID_KEY = PREFIX + "commit-id"
#: Per-window figures of a commit that replaced several windows: ``start-end:rows:checksum,…``.
WINDOWS_KEY = PREFIX + "windows"
#: The version of the row hash behind a commit's checksums (``offload.source.ROW_HASH_VERSION``).
ROW_HASH_KEY = PREFIX + "row-hash"


def window_filter(time_column: str, window: Window) -> BooleanExpression:
    """Iceberg predicate selecting the rows of a window."""
    return And(
        GreaterThanOrEqual(time_column, window.start.isoformat()),  # pyright: ignore[reportCallIssue]
        LessThan(time_column, window.end.isoformat()),  # pyright: ignore[reportCallIssue]
    )


def coldtier_property(snapshot: Snapshot, key: str) -> str | None:
    """A coldtier snapshot-summary property (``None`` when absent)."""
    return snapshot.summary.additional_properties.get(key) if snapshot.summary else None


def newest_coldtier_snapshot(table: Table) -> Snapshot | None:
    """The newest snapshot on main's ancestry that coldtier wrote (skipping e.g. compactions)."""
    snapshot = table.current_snapshot()
    while snapshot is not None:
        if coldtier_property(snapshot, LEDGER_KEY) is not None:
            return snapshot
        parent = snapshot.parent_snapshot_id
        snapshot = table.metadata.snapshot_by_id(parent) if parent is not None else None
    return None


def summary_ledger(table: Table) -> Ledger:
    """The ledger as the previous version kept it: in the newest coldtier snapshot summary."""
    snapshot = newest_coldtier_snapshot(table)
    return Ledger.decode(coldtier_property(snapshot, LEDGER_KEY)) if snapshot else Ledger()


def has_ledger_property(table: Table) -> bool:
    """True when the table keeps its ledger in the ``coldtier.ledger`` table property."""
    return LEDGER_KEY in table.metadata.properties


def read_ledger(table: Table) -> Ledger:
    """The committed windows of a table: the table property, else (not yet migrated) the summaries."""
    if has_ledger_property(table):
        return Ledger.decode(table.metadata.properties[LEDGER_KEY])
    return summary_ledger(table)


def migrate_ledger(catalog: Catalog, identifier: tuple[str, str], *, max_attempts: int = 8) -> bool:
    """Copy a summary-only ledger into the table property, in a commit of its own; True if it did.

    A property-only update carries no requirement of its own, and ``SqlCatalog`` re-applies updates
    onto the metadata it loads at commit time, so the commit asserts that ``main`` is still the
    snapshot the ledger was read from: a window commit in between fails it, and it is retried.
    """

    def attempt(_: int) -> bool:
        table = catalog.load_table(identifier)
        if has_ledger_property(table):
            return False
        ledger = summary_ledger(table)
        current = table.current_snapshot()
        if not ledger.ranges or current is None:
            return False
        transaction = _without_internal_retries(table).transaction()
        unchanged = AssertRefSnapshotId(ref="main", snapshot_id=current.snapshot_id)  # pyright: ignore[reportCallIssue]
        update = SetPropertiesUpdate(updates={LEDGER_KEY: ledger.encode()})
        transaction._apply((update,), (unchanged,))  # pyright: ignore[reportPrivateUsage]
        transaction.commit_transaction()
        log.info("ledger of %s moved into the table property (%s)", identifier, ledger.encode())
        return True

    return retry_conflicts(
        attempt,
        attempts=max_attempts,
        conflicts=(CommitFailedException,),
        what=f"the ledger migration of {'.'.join(identifier)}",
        error=CommitError,
    )


@dataclass(frozen=True)
class CommitOutcome:
    """A landed commit: the snapshot that holds the window's data and how many attempts it took.

    ``table`` is the table as the commit left it (reusable for the next commit), when known.
    """

    snapshot_id: int
    attempts: int
    ledger: Ledger
    table: Table | None = None


def _without_internal_retries(table: Table) -> Table:
    """Disable pyiceberg's own retry for this commit: it would replay a stale ledger."""
    properties = {**table.metadata.properties, TableProperties.COMMIT_NUM_RETRIES: "0"}
    table.metadata = table.metadata.model_copy(update={"properties": properties})
    return table


def _find_commit(table: Table, commit_id: str) -> Snapshot | None:
    for snapshot in reversed(table.metadata.snapshots):
        if coldtier_property(snapshot, COMMIT_ID_KEY) == commit_id:
            return snapshot
    return None


@dataclass
class _CommitAttempts:
    """The attempts of one :func:`commit_window` call: each on fresh metadata, all with one commit id."""

    catalog: Catalog
    identifier: tuple[str, str]
    time_column: str
    window: Window
    files: list[DataFile]
    summary: dict[str, str]
    loaded: Table | None  # the caller's table, used by the first attempt
    commit_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    unknown: bool = False  # an attempt may have landed: never report "not landed" after one

    def __post_init__(self) -> None:
        self.summary = {
            **self.summary,
            PREFIX + "window-start": self.window.start.isoformat(),
            PREFIX + "window-end": self.window.end.isoformat(),
            COMMIT_ID_KEY: self.commit_id,
        }

    def landed(self, table: Table | None = None) -> Snapshot | None:
        """Return this commit's snapshot in ``table`` (default: freshly loaded), if it landed."""
        return _find_commit(table or self.catalog.load_table(self.identifier), self.commit_id)

    def __call__(self, number: int) -> CommitOutcome:
        """Attempt ``number``: the caller's table first, then fresh metadata after a conflict."""
        current = self.loaded if self.loaded is not None and number == 1 else None
        current = current or self.catalog.load_table(self.identifier)
        self.loaded = None
        if self.unknown and (landed := self.landed(current)) is not None:
            return CommitOutcome(landed.snapshot_id, number - 1, read_ledger(current))
        held = read_ledger(current)
        ledger = held.add(self.window)
        replaced = self.window if held.overlaps(self.window) else None
        transaction = _window_transaction(
            current, self.time_column, replaced, self.files, ledger, self.summary
        )
        try:
            committed = transaction.commit_transaction()
        except CommitFailedException:  # someone committed first: retried on fresh metadata
            raise
        except Exception as error:  # outcome unknown (e.g. connection lost): look for our commit id
            self.unknown = True
            log.warning("commit outcome unknown on %s %s: %s", self.identifier, self.window, error)
            with contextlib.suppress(Exception):
                if (landed := self.landed()) is not None:
                    return CommitOutcome(landed.snapshot_id, number, ledger)
            raise OutcomeUnknownError(str(error)) from error
        snapshot = committed.current_snapshot()
        assert snapshot is not None
        return CommitOutcome(snapshot.snapshot_id, number, ledger, committed)


def commit_window(
    catalog: Catalog,
    identifier: tuple[str, str],
    time_column: str,
    window: Window,
    files: Iterable[DataFile],
    summary: dict[str, str],
    *,
    table: Table | None = None,
    max_attempts: int = 8,
) -> CommitOutcome:
    """Replace the window's rows with ``files`` in one atomic commit, retrying conflicts.

    ``table`` (loaded by the caller, e.g. returned by the previous commit) saves the first attempt
    a load; a conflict refreshes it. ``window`` may span several windows (a batch).

    Raises :class:`CommitNotLandedError` only when the commit is known not to have landed (every
    attempt was a definite conflict and fresh metadata lacks the commit id); any other failure —
    :class:`CommitError` or whatever escapes — leaves the outcome unknown.
    """
    attempts = _CommitAttempts(catalog, identifier, time_column, window, list(files), summary, table)
    try:
        return retry_conflicts(
            attempts,
            attempts=max_attempts,
            conflicts=(CommitFailedException, OutcomeUnknownError),
            what=f"{window} to {'.'.join(identifier)}",
            error=CommitError,
        )
    except CommitError as error:
        if not attempts.unknown and attempts.landed() is None:
            raise CommitNotLandedError(str(error)) from error.__cause__  # every attempt a definite conflict
        raise CommitError(
            f"{error} (the commit may have landed; its data files are kept)"
        ) from error.__cause__


def _window_transaction(
    table: Table,
    time_column: str,
    replaced: Window | None,
    files: list[DataFile],
    ledger: Ledger,
    properties: dict[str, str],
) -> Transaction:
    """One transaction: the ledger property, the window's delete, the append, the history bound.

    ``replaced`` is the window whose rows are deleted: ``None`` when the ledger holds no part of it
    (a first copy), so the commit reads no manifest. Rows there could only come from another writer,
    and are kept (nothing but coldtier's own windows is deleted; the consistency check reports them).
    """
    table = _without_internal_retries(table)
    transaction = CachedTransaction(table)
    expired = snapshots_to_expire(table.metadata, adding=2)  # at most a delete and an append
    transaction.set_properties(
        {LEDGER_KEY: ledger.encode(), **missing_history_properties(table.metadata.properties)}
    )
    if replaced is not None:
        with warnings.catch_warnings():  # a window committed empty has nothing to delete: expected
            warnings.filterwarnings("ignore", message="Delete operation did not match any records")
            transaction.delete(window_filter(time_column, replaced), snapshot_properties=properties)
    with transaction.update_snapshot(snapshot_properties=properties).merge_append() as append:
        for file in files:
            append.append_data_file(file)
    if expired:
        removal = RemoveSnapshotsUpdate(snapshot_ids=expired)  # pyright: ignore[reportCallIssue]
        transaction._apply((removal,), ())  # pyright: ignore[reportPrivateUsage]
    return transaction
