"""Time windows (by trade time) and the ledger of committed windows (the ``coldtier.ledger`` property)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


def utc(moment: datetime) -> datetime:
    """The same instant as an aware UTC datetime (naive values are taken to be UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True, order=True)
class Window:
    """A half-open interval [start, end) of trade time."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", utc(self.start))
        object.__setattr__(self, "end", utc(self.end))
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} is not after its start {self.start}")

    def __str__(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"

    @property
    def epoch_range(self) -> tuple[int, int]:
        """(start, end) as whole epoch seconds."""
        return int(self.start.timestamp()), int(self.end.timestamp())


def split_windows(start: datetime, end: datetime, length: timedelta) -> list[Window]:
    """Cut [start, end) into consecutive windows of ``length``; both ends must be aligned to it."""
    start, end = utc(start), utc(end)
    seconds = int(length.total_seconds())
    if int(start.timestamp()) % seconds or int(end.timestamp()) % seconds:
        raise ValueError(f"[{start}, {end}) is not aligned to windows of {length}")
    windows = []
    cursor = start
    while cursor < end:
        windows.append(Window(cursor, cursor + length))
        cursor += length
    return windows


def aligned_windows(start: datetime, end: datetime, length: timedelta) -> list[Window]:
    """The windows of ``length`` that overlap [start, end), whatever length the bounds were cut at.

    Runs, ledger ranges and summaries recorded under another ``COLDTIER_WINDOW_MINUTES`` need not
    be aligned to today's windows.
    """
    seconds = int(length.total_seconds())
    low, high = int(utc(start).timestamp()), int(utc(end).timestamp())
    low, high = low - low % seconds, high + (-high) % seconds
    return split_windows(datetime.fromtimestamp(low, UTC), datetime.fromtimestamp(high, UTC), length)


def closed_window_end(now: datetime, length: timedelta, lateness: timedelta) -> datetime:
    """The end of the latest window that may be copied at ``now`` (its end + lateness has passed)."""
    seconds = int(length.total_seconds())
    cutoff = int((utc(now) - lateness).timestamp())
    return datetime.fromtimestamp(cutoff - cutoff % seconds, UTC)


@dataclass(frozen=True)
class Ledger:
    """The committed time ranges of a cold table, merged and sorted (epoch seconds, half-open).

    It is the table property ``coldtier.ledger``, set in the same commit as each window's data
    (see :mod:`coldtier_assets.offload.sink`). Every range counts as cold, not only the first.
    """

    ranges: tuple[tuple[int, int], ...] = ()

    @staticmethod
    def merge(ranges: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
        """Sort and merge overlapping or touching ranges."""
        merged: list[list[int]] = []
        for start, end in sorted(ranges):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        return tuple((start, end) for start, end in merged)

    def add(self, window: Window) -> Ledger:
        """A ledger that also holds ``window``."""
        return Ledger(self.merge((*self.ranges, window.epoch_range)))

    def covers(self, window: Window) -> bool:
        """True when every instant of ``window`` is committed."""
        start, end = window.epoch_range
        return any(low <= start and end <= high for low, high in self.ranges)

    def overlaps(self, window: Window) -> bool:
        """True when some instant of ``window`` is committed."""
        start, end = window.epoch_range
        return any(low < end and start < high for low, high in self.ranges)

    def missing(self, windows: Iterable[Window]) -> Iterator[Window]:
        """The windows of ``windows`` that are not committed."""
        return (window for window in windows if not self.covers(window))

    @property
    def watermark(self) -> datetime | None:
        """End of the contiguous committed run that starts at the earliest committed window.

        The lag figure of ``status`` and the metrics; whether a window is cold is :meth:`covers`.
        """
        return datetime.fromtimestamp(self.ranges[0][1], UTC) if self.ranges else None

    def encode(self) -> str:
        """Compact text form for the table property: ``start-end,start-end`` in epoch seconds."""
        return ",".join(f"{start}-{end}" for start, end in self.ranges)

    @classmethod
    def decode(cls, text: str | None) -> Ledger:
        """Parse :meth:`encode`'s output (``None`` or empty gives an empty ledger)."""
        if not text:
            return cls()
        pairs = (part.split("-") for part in text.split(","))
        return cls(cls.merge((int(start), int(end)) for start, end in pairs))
