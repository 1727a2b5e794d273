"""The maintenance knobs, with the defaults of the daily run (README, "In Dagster": Maintenance)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

MIB = 1024 * 1024
#: Orphan removal never deletes a file younger than this, whatever the configuration says: a file
#: that young may belong to a commit in flight or to one whose outcome is not yet known.
ORPHAN_MIN_AGE_FLOOR = timedelta(hours=24)


def orphan_age_problem(age: timedelta) -> str | None:
    """Why ``age`` is refused as the orphan-removal minimum age (``None`` when it is allowed)."""
    if age >= ORPHAN_MIN_AGE_FLOOR:
        return None
    return (
        f"orphan-file removal refuses a minimum age of {describe_age(age)}: it must be at least "
        f"{describe_age(ORPHAN_MIN_AGE_FLOOR)}, because younger unreferenced files may belong to a commit "
        "in flight or to one whose outcome is unknown"
    )


@dataclass(frozen=True)
class MaintenancePolicy:
    """How compaction, snapshot expiry and orphan removal behave.

    * Compaction bin-packs the files of a partition smaller than ``small_file_ratio`` times
      ``target_file_size_bytes`` into files of at most about the target (Iceberg's
      ``min-file-size-bytes`` default is the same 75 %), when a partition has two or more of them.
    * Expiry removes snapshots older than ``snapshot_max_age`` but always keeps the newest
      ``min_snapshots_to_keep`` snapshots of the main branch, the current one, and the chain down to
      the newest snapshot carrying the ledger.
    * Orphan removal only deletes unreferenced files older than ``orphan_min_age`` (never less
      than 24 hours), so files of a commit still in flight or of unknown outcome survive.
    """

    target_file_size_bytes: int = 128 * MIB
    small_file_ratio: float = 0.75
    snapshot_max_age: timedelta = timedelta(days=7)
    min_snapshots_to_keep: int = 5
    orphan_min_age: timedelta = timedelta(days=3)
    max_commit_attempts: int = 8

    def __post_init__(self) -> None:
        if self.target_file_size_bytes <= 0:
            raise ValueError(f"target_file_size_bytes must be > 0, got {self.target_file_size_bytes}")
        if not 0 < self.small_file_ratio <= 1:
            raise ValueError(f"small_file_ratio must be in (0, 1], got {self.small_file_ratio}")
        if self.min_snapshots_to_keep < 1:
            raise ValueError(f"min_snapshots_to_keep must be >= 1, got {self.min_snapshots_to_keep}")
        if self.snapshot_max_age < timedelta(0) or self.orphan_min_age < timedelta(0):
            raise ValueError("snapshot_max_age and orphan_min_age must not be negative")
        if (problem := orphan_age_problem(self.orphan_min_age)) is not None:
            raise ValueError(problem)
        if self.max_commit_attempts < 1:
            raise ValueError(f"max_commit_attempts must be >= 1, got {self.max_commit_attempts}")

    @property
    def small_file_bytes(self) -> int:
        """Files strictly smaller than this are small (candidates for compaction)."""
        return int(self.target_file_size_bytes * self.small_file_ratio)


#: The daily run's policy: the one place its defaults live (CLI and Dagster config read it).
DEFAULT_POLICY = MaintenancePolicy()


def describe_age(age: timedelta) -> str:
    """A short human form of an age: ``7 days``, ``36 h``, ``15 min``."""
    seconds = int(age.total_seconds())
    if seconds % 86400 == 0:
        days = seconds // 86400
        return f"{days} day" if days == 1 else f"{days} days"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"
