"""The Parquet write queue: one write in flight, errors raised on the next call, nothing left running."""

from __future__ import annotations

import threading
import time
from typing import cast

import pyarrow as pa
import pytest

from coldtier_assets.offload.datafiles import DataFileWriter
from coldtier_assets.offload.write_queue import WriteQueue


class RecordingWriter:
    """Stands in for a DataFileWriter: records the slices it wrote and how many writes overlapped."""

    def __init__(self, seconds: float = 0.05, fail_on: int | None = None) -> None:
        self.seconds, self.fail_on = seconds, fail_on
        self.written: list[int] = []
        self.running = 0
        self.most_running = 0
        self._lock = threading.Lock()

    def write(self, data: pa.Table) -> None:
        """Take ``seconds``; raise on the slice whose first value is ``fail_on``."""
        with self._lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            time.sleep(self.seconds)
            value = data.column(0)[0].as_py()
            if value == self.fail_on:
                raise OSError(f"disk full writing slice {value}")
            self.written.append(value)
        finally:
            with self._lock:
                self.running -= 1


def _slice(value: int) -> pa.Table:
    return pa.table({"v": [value]})


def _as_writer(writer: RecordingWriter) -> DataFileWriter:
    return cast(DataFileWriter, writer)


def test_writes_run_one_at_a_time_in_order_and_finish_before_the_queue_closes() -> None:
    writer = RecordingWriter()
    with WriteQueue() as queue:
        for value in range(5):
            queue.submit(_as_writer(writer), _slice(value))
    assert writer.written == [0, 1, 2, 3, 4]
    assert writer.most_running == 1


def test_submit_returns_while_the_previous_slice_is_still_being_written() -> None:
    writer = RecordingWriter(seconds=0.3)
    with WriteQueue() as queue:
        queue.submit(_as_writer(writer), _slice(1))
        assert writer.written == []  # the caller goes on reading while the write runs
        queue.drain()
        assert writer.written == [1]


def test_a_failed_write_is_raised_by_the_next_submit() -> None:
    writer = RecordingWriter(fail_on=1)
    with pytest.raises(OSError, match="disk full writing slice 1"), WriteQueue() as queue:
        queue.submit(_as_writer(writer), _slice(1))
        queue.submit(_as_writer(writer), _slice(2))
    assert writer.written == []  # slice 2 was never handed over


def test_a_failed_last_write_is_raised_when_the_queue_closes() -> None:
    writer = RecordingWriter(fail_on=3)
    with pytest.raises(OSError, match="slice 3"), WriteQueue() as queue:
        queue.submit(_as_writer(writer), _slice(3))


def test_leaving_on_an_error_waits_for_the_running_write() -> None:
    writer = RecordingWriter(seconds=0.3)
    with pytest.raises(KeyboardInterrupt), WriteQueue() as queue:
        queue.submit(_as_writer(writer), _slice(7))
        raise KeyboardInterrupt
    assert writer.running == 0  # nothing still creating files once the caller cleans up
