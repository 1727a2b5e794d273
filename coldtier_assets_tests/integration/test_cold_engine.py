"""The cold-query worker: a real chDB child process reused across queries, restarted when it dies."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from coldtier_assets.offload.cold_engine import ColdQueryError, ColdQueryWorker

pytestmark = pytest.mark.integration


@pytest.fixture
def worker() -> ColdQueryWorker:
    return ColdQueryWorker(idle_seconds=30)


def _pid(worker: ColdQueryWorker) -> int:
    child = worker._child
    assert child is not None and child.pid is not None
    return child.pid


def test_reads_files_anywhere_and_reuses_one_process(worker: ColdQueryWorker, tmp_path: Path) -> None:
    path = tmp_path / "numbers.parquet"
    pq.write_table(pa.table({"n": list(range(10))}), path)
    try:
        first = worker.query([f"SELECT sum(n) FROM file('{path}', Parquet)", "SELECT 1 + 1"])
        pid = _pid(worker)
        second = worker.query([f"SELECT count() FROM file('{path}', Parquet)"])
        assert first == [[["45"]], [[2]]] or first == [[[45]], [[2]]]
        assert second in ([[["10"]]], [[[10]]])
        assert _pid(worker) == pid  # one engine for both calls
    finally:
        worker.close()


def test_a_failing_query_is_a_clear_error_and_the_worker_survives(
    worker: ColdQueryWorker, tmp_path: Path
) -> None:
    try:
        with pytest.raises(ColdQueryError, match=r"cold-tier query failed: .*No such file or directory"):
            worker.query([f"SELECT count() FROM file('{tmp_path / 'missing.parquet'}', Parquet)"])
        pid = _pid(worker)
        assert worker.query(["SELECT 7"]) == [[[7]]]
        assert _pid(worker) == pid
    finally:
        worker.close()


def test_a_killed_worker_is_replaced(worker: ColdQueryWorker) -> None:
    try:
        assert worker.query(["SELECT 1"]) == [[[1]]]
        pid = _pid(worker)
        os.kill(pid, signal.SIGKILL)
        assert worker.query(["SELECT 2"]) == [[[2]]]
        assert _pid(worker) != pid
    finally:
        worker.close()


def test_an_idle_worker_exits_and_comes_back() -> None:
    worker = ColdQueryWorker(idle_seconds=0.5)
    try:
        assert worker.query(["SELECT 1"]) == [[[1]]]
        assert worker._child is not None
        process = worker._child.process
        assert process is not None
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert process.returncode == 0  # exited by itself, nothing left running
        assert worker.query(["SELECT 3"]) == [[[3]]]
    finally:
        worker.close()
