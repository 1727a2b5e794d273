import itertools
from datetime import UTC, datetime, timedelta

import pytest

from coldtier_assets.offload.windows import Ledger, Window, aligned_windows, closed_window_end, split_windows

T0 = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
M15 = timedelta(minutes=15)


def test_split_windows_covers_the_range_without_gaps() -> None:
    windows = split_windows(T0, T0 + timedelta(hours=1), M15)
    assert [w.start for w in windows] == [T0 + i * M15 for i in range(4)]
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))


def test_split_windows_rejects_unaligned_ranges() -> None:
    with pytest.raises(ValueError, match="not aligned"):
        split_windows(T0 + timedelta(minutes=1), T0 + timedelta(hours=1), M15)


def test_closed_window_end_waits_for_lateness() -> None:
    now = T0 + timedelta(minutes=16)
    assert closed_window_end(now, M15, timedelta(minutes=2)) == T0
    assert closed_window_end(now + timedelta(minutes=1), M15, timedelta(minutes=2)) == T0 + M15


def test_ledger_merges_encodes_and_finds_the_watermark() -> None:
    ledger = Ledger()
    for i in (0, 1, 3, 2, 5):
        ledger = ledger.add(Window(T0 + i * M15, T0 + (i + 1) * M15))
    assert len(ledger.ranges) == 2
    assert ledger.watermark == T0 + 4 * M15
    assert Ledger.decode(ledger.encode()) == ledger
    assert [w.start for w in ledger.missing(split_windows(T0, T0 + 6 * M15, M15))] == [T0 + 4 * M15]
    assert Ledger.decode(None).watermark is None


def test_window_rejects_empty_interval() -> None:
    with pytest.raises(ValueError, match="not after"):
        Window(T0, T0)


def test_aligned_windows_cover_bounds_cut_at_another_length() -> None:
    windows = aligned_windows(T0 + timedelta(minutes=10), T0 + timedelta(minutes=40), M15)
    assert [w.start for w in windows] == [T0, T0 + M15, T0 + 2 * M15]
    assert aligned_windows(T0, T0 + 2 * M15, M15) == split_windows(T0, T0 + 2 * M15, M15)
    ledger = Ledger().add(Window(T0, T0 + 2 * M15))  # 15-minute commits seen with 10-minute windows
    ten = timedelta(minutes=10)
    assert [w.start for w in ledger.missing(aligned_windows(T0, T0 + 4 * M15, ten))] == [
        T0 + 3 * ten,
        T0 + 4 * ten,
        T0 + 5 * ten,
    ]
