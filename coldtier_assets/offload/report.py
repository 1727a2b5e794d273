"""What an offload call did: per window, its figures and the commit that holds it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from coldtier_assets.offload.batch import Batch
from coldtier_assets.offload.sink import CommitOutcome
from coldtier_assets.offload.windows import Window
from coldtier_assets.tables import TableSpec


@dataclass(frozen=True)
class WindowResult:
    """What one window (or a run of empty windows) got: its figures and the commit that holds it."""

    table: str
    window: Window
    rows: int
    checksum: int
    files: int
    bytes: int
    snapshot_id: int
    attempts: int
    seconds: float

    @property
    def checksum_hex(self) -> str:
        """The content checksum as 16 hex digits."""
        return f"{self.checksum:016x}"


@dataclass
class OffloadReport:
    """All windows of one offload call, the commits that hold them, and the watermark after them."""

    table: str
    results: list[WindowResult] = field(default_factory=list)
    watermark: datetime | None = None

    @property
    def rows(self) -> int:
        """Rows written in total."""
        return sum(result.rows for result in self.results)

    @property
    def bytes(self) -> int:
        """Parquet bytes written in total."""
        return sum(result.bytes for result in self.results)

    @property
    def files(self) -> int:
        """Data files written in total."""
        return sum(result.files for result in self.results)

    @property
    def commits(self) -> int:
        """Iceberg commits made (a batch of windows is one)."""
        return len({result.snapshot_id for result in self.results})


def window_results(
    spec: TableSpec, batch: Batch, outcome: CommitOutcome, seconds: float
) -> list[WindowResult]:
    """One result per non-empty window of a committed batch, one per run of empty windows.

    The commit's own time is counted in the batch's last result.
    """
    results: list[WindowResult] = []
    for written in batch.windows:
        last = results[-1] if results else None
        if not written.rows and last is not None and not last.rows:
            results[-1] = WindowResult(
                spec.name,
                Window(last.window.start, written.window.end),
                0,
                0,
                0,
                0,
                outcome.snapshot_id,
                outcome.attempts,
                last.seconds + written.seconds,
            )
            continue
        files = len(written.writer.files) if written.writer else 0
        results.append(
            WindowResult(
                spec.name,
                written.window,
                written.rows,
                written.checksum,
                files,
                written.bytes,
                outcome.snapshot_id,
                outcome.attempts,
                written.seconds,
            )
        )
    last = results[-1]
    results[-1] = replace(last, seconds=last.seconds + seconds)
    return results
