"""A real offload process for crash and concurrency tests: ``python -m … MODE TABLE START END``.

Modes: ``plain`` copies the windows; ``kill-before-commit`` writes the window's data files and
SIGKILLs itself right before the catalog commit; ``kill-after-commit`` SIGKILLs itself right
after the commit landed; ``dagster-kill-after-commit`` does the latter inside a Dagster run (on the
instance in $DAGSTER_HOME), so the commit exists but Dagster never records the materialization.
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import datetime
from typing import Any

import coldtier_assets.offload.pipeline as pipeline
from coldtier_assets.config import load_settings
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

    if mode == "kill-before-commit":
        pipeline.commit_window = before  # type: ignore[assignment]
    elif "kill-after-commit" in mode:
        pipeline.commit_window = after  # type: ignore[assignment]


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
    offloader = Offloader(settings, WarmTier(settings.warm_dsn), lambda: open_catalog(settings))
    report = offloader.offload(
        get_table(table), datetime.fromisoformat(start), datetime.fromisoformat(end), "child"
    )
    print(report.rows)


if __name__ == "__main__":
    main()
