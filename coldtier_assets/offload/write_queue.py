"""One background thread that writes Parquet while the caller reads the next slice from ClickHouse.

The queue outlives a window: the last slice of window *n* is written while window *n + 1* is read,
so a run of small windows (one slice each) overlaps reads and writes as well as one large window.
At most one slice is being written while the caller holds the next: two slices in memory at most.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import Future, ThreadPoolExecutor, wait
from types import TracebackType

import pyarrow as pa

from coldtier_assets.offload.datafiles import DataFileWriter


class WriteQueue:
    """Writes slices one at a time on a background thread; a failed write is raised by the next call.

    Use it as a context manager: leaving it waits for (or, after an error, abandons) the last write,
    so no file is still being created once the caller cleans up.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet")
        self._pending: Future[None] | None = None

    def submit(self, writer: DataFileWriter, data: pa.Table) -> None:
        """Hand ``data`` to ``writer`` once the previous write has finished (raising its error, if any)."""
        self.drain()
        self._pending = self._pool.submit(writer.write, data)

    def drain(self) -> None:
        """Wait for the write in flight; its error, if any, is raised here."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def abandon(self) -> None:
        """Cancel the write in flight or wait for it to end, ignoring its outcome (the caller is failing)."""
        pending, self._pending = self._pending, None
        if pending is not None and not pending.cancel():
            wait([pending])
            with contextlib.suppress(BaseException):
                pending.result()

    def __enter__(self) -> WriteQueue:
        return self

    def __exit__(
        self,
        error_type: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if error is None:
                self.drain()
            else:
                self.abandon()
        finally:
            self._pool.shutdown(wait=True)
