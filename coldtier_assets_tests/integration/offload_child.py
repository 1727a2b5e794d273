"""A real offload process for crash and concurrency tests: ``python -m … MODE TABLE START END``.

Modes: ``plain`` copies the windows; ``kill-before-commit`` writes the window's data files and
SIGKILLs itself right before the catalog commit (of its first batch with data);
``kill-after-commit`` SIGKILLs itself right after that commit landed (``$COLDTIER_TEST_BATCH_WINDOWS``
bounds the windows per commit, default 96); ``dagster-kill-after-commit`` does the latter inside a Dagster run (on the
instance in $DAGSTER_HOME), so the commit exists but Dagster never records the materialization;
``dagster-hold-after-commit-sql`` runs the Dagster job and, right after the catalog committed the
target table's first window (the SQL is done, the reply not yet back to the offload), creates the
file named by $COLDTIER_TEST_HOLD_MARKER and waits there until a signal terminates the run.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from pyiceberg.catalog.sql import SqlCatalog

import coldtier_assets.offload.pipeline as pipeline
from coldtier_assets.config import load_settings
from coldtier_assets.offload.batch import BatchLimits
from coldtier_assets.offload.pipeline import Offloader
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.resources.iceberg import open_catalog
from coldtier_assets.tables import get_table


def _install(mode: str) -> None:
    original = pipeline.commit_window

    def before(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("files") or args[4]:  # the first window that has data files
            os.kill(os.getpid(), signal.SIGKILL)
        return original(*args, **kwargs)

    def after(*args: Any, **kwargs: Any) -> Any:
        outcome = original(*args, **kwargs)
        if args[4]:
            os.kill(os.getpid(), signal.SIGKILL)
        return outcome

    if mode == "dagster-hold-after-commit-sql":
        _hold_after_commit_sql(sys.argv[2])
    if mode == "kill-before-commit":
        pipeline.commit_window = before  # type: ignore[assignment]
    elif "kill-after-commit" in mode:
        pipeline.commit_window = after  # type: ignore[assignment]


def _hold_after_commit_sql(target: str) -> None:
    """Make the real catalog commit, then hold (once, for ``target``) until the process is signalled."""
    original = SqlCatalog.commit_table

    def commit_then_hold(self: SqlCatalog, table: Any, *args: Any, **kwargs: Any) -> Any:
        response = original(self, table, *args, **kwargs)
        marker = Path(os.environ["COLDTIER_TEST_HOLD_MARKER"])
        if table.name()[-1] == target and not marker.exists():
            marker.touch()
            while True:  # the commit landed; the run is terminated here, before the reply returns
                time.sleep(0.05)
        return response

    SqlCatalog.commit_table = commit_then_hold  # type: ignore[method-assign]


def main() -> None:
    mode, table, start, end = sys.argv[1:5]
    _install(mode)
    settings = load_settings()
    if mode.startswith("dagster"):
        import dagster as dg

        from coldtier_assets.definitions import defs

        job = defs.resolve_job_def("offload_15m")
        upstream = [dg.AssetKey(["cold", name]) for name in get_table(table).upstream]
        with dg.DagsterInstance.get() as instance:
            job.execute_in_process(
                instance=instance,
                partition_key=start,
                asset_selection=[*upstream, dg.AssetKey(["cold", table])],
            )
        return
    limits = BatchLimits(windows=int(os.environ.get("COLDTIER_TEST_BATCH_WINDOWS", "96")))
    offloader = Offloader(
        settings, WarmTier(settings.warm_dsn), lambda: open_catalog(settings), limits=limits
    )
    report = offloader.offload(
        get_table(table), datetime.fromisoformat(start), datetime.fromisoformat(end), "child"
    )
    print(report.rows)


if __name__ == "__main__":
    main()
