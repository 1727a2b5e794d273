"""A batch: consecutive windows of one table, read and written one by one, committed together.

A catch-up (a backfill, a Dagster range run, ``coldtier offload`` of a backlog) copies many closed
windows of a table. Each window is still read in slices and written as Parquet on its own (bounded
memory); only the commit is shared: one Iceberg commit replaces the batch's whole span, so the
ledger gains every window exactly once, all or nothing, and the number of snapshots grows with runs,
not windows. :class:`BatchLimits` bounds what one commit carries (rows, bytes, windows).

The commit's summary records each non-empty window's rows and checksum (``coldtier.windows``), so
what the commits recorded (``offload/recorded.py``) stays known per window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from pyiceberg.manifest import DataFile

from coldtier_assets.offload.datafiles import DataFileWriter
from coldtier_assets.offload.windows import Window


@dataclass(frozen=True)
class BatchLimits:
    """The most one commit carries; a batch is committed as soon as it reaches any of them.

    ``windows`` counts windows with rows: a run of empty windows rides along with the next window.
    """

    rows: int = 5_000_000
    bytes: int = 512 * 1024 * 1024
    windows: int = 96


@dataclass(frozen=True)
class WrittenWindow:
    """One window read from the warm tier and written as (uncommitted) data files."""

    window: Window
    writer: DataFileWriter | None
    rows: int
    checksum: int
    seconds: float

    @property
    def bytes(self) -> int:
        """Parquet bytes written for the window."""
        return self.writer.bytes_written if self.writer else 0


@dataclass
class Batch:
    """Consecutive written windows awaiting their shared commit."""

    windows: list[WrittenWindow] = field(default_factory=list)

    def add(self, written: WrittenWindow) -> None:
        """Append the next window (it must start where the batch ends)."""
        if self.windows and self.windows[-1].window.end != written.window.start:
            raise ValueError(f"{written.window} does not follow {self.windows[-1].window}")
        self.windows.append(written)

    def full(self, limits: BatchLimits) -> bool:
        """True once the batch reaches one of the limits (empty windows cost nothing: not counted)."""
        return (
            sum(1 for w in self.windows if w.rows) >= limits.windows
            or sum(w.rows for w in self.windows) >= limits.rows
            or sum(w.bytes for w in self.windows) >= limits.bytes
        )

    @property
    def span(self) -> Window:
        """The time the batch replaces: from its first window's start to its last window's end."""
        return Window(self.windows[0].window.start, self.windows[-1].window.end)

    @property
    def files(self) -> list[DataFile]:
        """Every data file of the batch's windows."""
        return [file for w in self.windows if w.writer for file in w.writer.files]

    def take(self) -> Batch:
        """Hand the windows over to a commit (this batch is empty afterwards)."""
        taken, self.windows = Batch(self.windows), []
        return taken

    def discard(self) -> None:
        """Delete the data files of windows never committed."""
        for written in self.windows:
            if written.writer is not None:
                written.writer.discard()
        self.windows = []

    def figures(self) -> tuple[int, int]:
        """(rows, checksum) of the whole batch (checksums add up modulo 2**64)."""
        return sum(w.rows for w in self.windows), sum(w.checksum for w in self.windows) % 2**64

    def encoded_windows(self) -> str:
        """Each non-empty window as ``start-end:rows:checksum`` (epoch seconds, hex), comma-separated."""
        return ",".join(
            f"{w.window.epoch_range[0]}-{w.window.epoch_range[1]}:{w.rows}:{w.checksum:016x}"
            for w in self.windows
            if w.rows
        )


def decode_windows(text: str) -> list[tuple[Window, tuple[int, int]]]:
    """Parse :meth:`Batch.encoded_windows` back into (window, (rows, checksum)) pairs."""
    decoded = []
    for part in filter(None, text.split(",")):
        bounds, rows, checksum = part.split(":")
        start, end = (datetime.fromtimestamp(int(v), UTC) for v in bounds.split("-"))
        decoded.append((Window(start, end), (int(rows), int(checksum, 16))))
    return decoded
