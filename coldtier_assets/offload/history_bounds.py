"""Bounded table history: the table properties and the in-commit expiry that keep a commit's cost flat.

Every window commit makes sure the table has the :data:`HISTORY_PROPERTIES` (an operator's own
value is kept): pyiceberg then merges manifests as commits land, and the commit itself expires the
oldest snapshots beyond ``coldtier.history.max-snapshots`` (see ``offload/sink.py`` for what that
means for time travel). :class:`CachedTransaction` keeps pyiceberg from re-deriving the metadata on
every look during one commit.
"""

from __future__ import annotations

import logging

from pyiceberg.table import TableProperties, Transaction
from pyiceberg.table.metadata import TableMetadata

log = logging.getLogger(__name__)

#: How many snapshots a coldtier commit keeps (it expires the oldest beyond this, in the same commit).
MAX_SNAPSHOTS_KEY = "coldtier.history.max-snapshots"

#: Table properties every window commit makes sure of (set when missing; an operator's value wins).
HISTORY_PROPERTIES = {
    TableProperties.MANIFEST_MERGE_ENABLED: "true",
    TableProperties.MANIFEST_MIN_MERGE_COUNT: "8",
    # Manifests of 256 KiB (about 600 data files) are left alone once full: a merge rewrites only the
    # small recent ones, not every live entry of the table as with the 8 MiB default, and a
    # one-window scan skips the full manifests of other days (benchmarks/history_growth.py).
    TableProperties.MANIFEST_TARGET_SIZE_BYTES: str(256 * 1024),
    MAX_SNAPSHOTS_KEY: "100",
}


class CachedTransaction(Transaction):
    """A transaction that applies its staged updates to the metadata once per change, not per look.

    pyiceberg's ``Transaction.table_metadata`` re-applies every staged update and deep-copies the
    result on each access, and a delete + append reads it about 25 times: with a few hundred
    snapshots that alone cost more than the rest of the commit. The metadata models are frozen, so
    sharing one copy until the next staged update is safe.
    """

    _cached: tuple[int, int, TableMetadata] | None = None

    @property
    def table_metadata(self) -> TableMetadata:
        """The table's metadata with the staged updates applied (computed once per staged update)."""
        key = (id(self._table.metadata), len(self._updates))
        if self._cached is None or self._cached[:2] != key:
            self._cached = (*key, super().table_metadata)
        return self._cached[2]


def missing_history_properties(properties: dict[str, str]) -> dict[str, str]:
    """The :data:`HISTORY_PROPERTIES` a table does not set yet (existing tables gain them on commit)."""
    return {key: value for key, value in HISTORY_PROPERTIES.items() if key not in properties}


def snapshots_to_expire(metadata: TableMetadata, adding: int) -> list[int]:
    """The oldest snapshots to drop so that, with ``adding`` new ones, at most the bound remain.

    Branch and tag heads are never dropped. A bound that is not a positive integer keeps everything.
    """
    raw = metadata.properties.get(MAX_SNAPSHOTS_KEY, HISTORY_PROPERTIES[MAX_SNAPSHOTS_KEY])
    try:
        bound = int(raw)
    except ValueError:
        log.warning("ignoring table property %s=%r: not an integer", MAX_SNAPSHOTS_KEY, raw)
        return []
    excess = len(metadata.snapshots) + adding - bound
    if bound <= 0 or excess <= 0:
        return []
    protected = {ref.snapshot_id for ref in metadata.refs.values()}
    oldest = sorted(metadata.snapshots, key=lambda s: (s.sequence_number or 0, s.timestamp_ms))
    return [s.snapshot_id for s in oldest if s.snapshot_id not in protected][:excess]
