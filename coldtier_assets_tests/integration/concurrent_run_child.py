"""One Dagster run in its own process, for the concurrent-runs test: ``python -m … TABLE FIRST LAST BARRIER N``.

Runs the table's offload job for the partitions FIRST..LAST (keys ``%Y-%m-%d-%H:%M``) on the instance
in ``$DAGSTER_HOME``, as a queued run's worker would. Its first commit with data waits at a barrier:
each of the N processes writes a file in the BARRIER folder once its window is read and written,
the last one to arrive sets a start time, and all of them commit at that instant, so their commits
race on the same table for real (the commit itself is the unchanged ``commit_window``). Prints the
run id and whether it succeeded.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import coldtier_assets.offload.pipeline as pipeline

_GO = "go"


def _wait_for_the_others(barrier: Path, parties: int, timeout: float = 120.0) -> None:
    (barrier / f"ready-{os.getpid()}").touch()
    deadline = time.monotonic() + timeout
    go = barrier / _GO
    while not go.exists() and time.monotonic() < deadline:
        if len(list(barrier.glob("ready-*"))) >= parties:
            temporary = barrier / f".go-{os.getpid()}"
            temporary.write_text(str(time.time() + 0.3))
            temporary.rename(go)  # atomic: every process reads the same start time
            break
        time.sleep(0.02)
    start = float(go.read_text()) if go.exists() else time.time()
    time.sleep(max(0.0, start - time.time()))


def _install_barrier(barrier: Path, parties: int) -> None:
    original = pipeline.commit_window
    waited = False

    def commit_together(*args: Any, **kwargs: Any) -> Any:
        nonlocal waited
        if not waited and (kwargs.get("files") or args[4]):
            waited = True
            _wait_for_the_others(barrier, parties)
        return original(*args, **kwargs)

    pipeline.commit_window = commit_together  # type: ignore[assignment]


def main() -> None:
    table, first, last, barrier, parties = sys.argv[1:6]
    _install_barrier(Path(barrier), int(parties))
    import dagster as dg

    from coldtier_assets.config import load_settings
    from coldtier_assets.definitions import defs
    from coldtier_assets.defs.jobs import offload_job_name, table_tag
    from coldtier_assets.tables import get_table

    job = defs.resolve_job_def(offload_job_name(get_table(table).window(load_settings().window)))
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": first,
                "dagster/asset_partition_range_end": last,
                table_tag(table): "copy",
            },
            asset_selection=[dg.AssetKey(["cold", table])],
            raise_on_error=False,
        )
    print(json.dumps({"run_id": result.run_id, "success": result.success}))


if __name__ == "__main__":
    main()
