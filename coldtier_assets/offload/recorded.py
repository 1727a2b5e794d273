"""What the window commits recorded: per window, the source rows and checksum of its newest copy.

Read from the snapshot summaries (the audit trail). Only what the remaining summaries can tell:
expired summaries and commits cut at another window length leave some windows unknown. A commit of
a batch of windows lists each non-empty window's figures (``coldtier.windows``); the rest of its
span was empty.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pyiceberg.table import Table

from coldtier_assets.offload.batch import decode_windows
from coldtier_assets.offload.sink import PREFIX, ROW_HASH_KEY, WINDOWS_KEY
from coldtier_assets.offload.source import ROW_HASH_VERSION
from coldtier_assets.offload.windows import Ledger, Window, aligned_windows


def _recorded_commits(table: Table) -> list[tuple[Window, tuple[int, int]]]:
    """The (window, (rows, checksum)) of the window commits still described by a snapshot summary.

    A newer commit replaces what older ones recorded for the time it covers, even when its own
    figures cannot be compared (another row hash): the time it covers is then unknown.
    """
    commits: list[tuple[Window, tuple[int, int]]] = []
    for snapshot in sorted(table.metadata.snapshots, key=lambda s: s.sequence_number or 0):
        props = snapshot.summary.additional_properties if snapshot.summary else {}
        start, end = props.get(PREFIX + "window-start"), props.get(PREFIX + "window-end")
        if not (start and end and snapshot.summary and snapshot.summary.operation.value == "append"):
            continue
        span = Window(datetime.fromisoformat(start), datetime.fromisoformat(end))
        commits = [(w, v) for w, v in commits if w.end <= span.start or span.end <= w.start]
        if props.get(ROW_HASH_KEY) == ROW_HASH_VERSION:
            commits += _pieces(span, props)
    return commits


def _pieces(span: Window, props: dict[str, str]) -> list[tuple[Window, tuple[int, int]]]:
    """What one commit recorded over its span: per listed window its figures, (0, 0) in between."""
    if WINDOWS_KEY not in props:
        rows = int(props.get(PREFIX + "source-rows", "0"))
        checksum = int(props.get(PREFIX + "source-checksum", "0"), 16)
        return [(span, (rows, checksum) if rows else (0, 0))]
    pieces: list[tuple[Window, tuple[int, int]]] = []
    cursor = span.start
    for window, figures in decode_windows(props[WINDOWS_KEY]):
        if cursor < window.start:
            pieces.append((Window(cursor, window.start), (0, 0)))
        pieces.append((window, figures))
        cursor = window.end
    if cursor < span.end:
        pieces.append((Window(cursor, span.end), (0, 0)))
    return pieces


def recorded_checksums(table: Table, length: timedelta) -> dict[datetime, tuple[int, int] | None]:
    """Per window start: (rows, checksum) the commits recorded for that window.

    A run of empty windows committed together records (0, 0) for each of its windows; commits of
    shorter windows (an earlier ``COLDTIER_WINDOW_MINUTES``) add up (the checksum is a sum of row
    hashes modulo 2**64). ``None`` when the commits cannot tell: a commit with rows straddles the
    window's edge, or part of the window has no recorded commit.
    """
    commits = _recorded_commits(table)
    recorded: dict[datetime, tuple[int, int] | None] = {}
    for commit, _ in commits:
        for window in aligned_windows(commit.start, commit.end, length):
            if window.start not in recorded:
                recorded[window.start] = _sum_inside(window, commits)
    return recorded


def _sum_inside(window: Window, commits: list[tuple[Window, tuple[int, int]]]) -> tuple[int, int] | None:
    """The recorded figures of ``window`` from the commits overlapping it (None when unknowable)."""
    pieces = [(w, v) for w, v in commits if w.start < window.end and window.start < w.end]
    if any(v[0] and (w.start < window.start or window.end < w.end) for w, v in pieces):
        return None
    covered = Ledger(Ledger.merge(w.epoch_range for w, _ in pieces))
    if not covered.covers(window):
        return None
    return sum(v[0] for _, v in pieces), sum(v[1] for _, v in pieces) % 2**64
