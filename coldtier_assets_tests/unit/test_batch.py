"""Batches of windows: what bounds a commit, and the per-window figures its summary records."""

from datetime import UTC, datetime, timedelta

import pytest

from coldtier_assets.offload.batch import Batch, BatchLimits, WrittenWindow, decode_windows
from coldtier_assets.offload.recorded import _pieces  # pyright: ignore[reportPrivateUsage]
from coldtier_assets.offload.sink import PREFIX, WINDOWS_KEY
from coldtier_assets.offload.windows import Ledger, Window, split_windows

T0 = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
M15 = timedelta(minutes=15)


def _batch(rows: list[int]) -> Batch:
    batch = Batch()
    for window, count in zip(split_windows(T0, T0 + len(rows) * M15, M15), rows, strict=True):
        batch.add(WrittenWindow(window, None, count, (count * 2**60) % 2**64, 0.0))
    return batch


def test_empty_windows_ride_along_and_do_not_fill_a_batch() -> None:
    assert not _batch([0, 0, 0, 5]).full(BatchLimits(windows=2))
    assert _batch([0, 5, 0, 5]).full(BatchLimits(windows=2))
    assert _batch([7]).full(BatchLimits(rows=7))


def test_a_batch_only_takes_the_next_window() -> None:
    batch = _batch([1])
    with pytest.raises(ValueError, match="does not follow"):
        batch.add(WrittenWindow(Window(T0 + 2 * M15, T0 + 3 * M15), None, 1, 1, 0.0))


def test_the_summary_records_each_window_and_the_gaps_read_back_empty() -> None:
    batch = _batch([3, 0, 0, 9])
    rows, checksum = batch.figures()
    assert (rows, checksum) == (12, (12 * 2**60) % 2**64)  # checksums add up modulo 2**64
    listed = decode_windows(batch.encoded_windows())
    assert [window for window, _ in listed] == [batch.windows[0].window, batch.windows[3].window]
    props = {WINDOWS_KEY: batch.encoded_windows(), PREFIX + "source-rows": str(rows)}
    pieces = _pieces(batch.span, props)
    assert [figures for _, figures in pieces] == [(3, 3 * 2**60 % 2**64), (0, 0), (9, 9 * 2**60 % 2**64)]
    assert Ledger(Ledger.merge(w.epoch_range for w, _ in pieces)).covers(batch.span)


def test_a_single_window_commit_keeps_the_short_summary() -> None:
    span = Window(T0, T0 + M15)
    props = {PREFIX + "source-rows": "4", PREFIX + "source-checksum": f"{5:016x}"}
    assert _pieces(span, props) == [(span, (4, 5))]
