"""Prepare ``DAGSTER_HOME``: PostgreSQL storage when configured, SQLite otherwise, and the run queue.

The template (``dagster.postgres.yaml`` or ``dagster.yaml``) is written with the run queue taken from
the settings: ``COLDTIER_MAX_CONCURRENT_RUNS`` runs in progress at once, and at most
``COLDTIER_MAX_RUNS_PER_TABLE`` of them copying any one table (a run tag limit per registry table,
on the ``coldtier/table.<name>`` tags the sensors put on their runs). Runs copying different
windows of one table commit concurrently; their conflicts are retried (``offload/retry.py``), and the
per-table limit keeps the retries of each commit well inside their attempts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from coldtier_assets.bundled import bundled_path
from coldtier_assets.config import Settings
from coldtier_assets.defs.jobs import table_tag
from coldtier_assets.tables import TABLES


def run_queue_config(settings: Settings) -> dict[str, Any]:
    """The queued run coordinator's limits: runs at once, and runs at once per table."""
    return {
        "max_concurrent_runs": settings.max_concurrent_runs,
        "tag_concurrency_limits": [
            {"key": table_tag(spec.name), "limit": settings.max_runs_per_table} for spec in TABLES
        ],
    }


def instance_yaml(settings: Settings) -> str:
    """The ``dagster.yaml`` for these settings: the bundled template with the run queue filled in."""
    template = "dagster.postgres.yaml" if settings.dagster_pg_url else "dagster.yaml"
    config = yaml.safe_load(bundled_path(template).read_text())
    config["run_coordinator"]["config"].update(run_queue_config(settings))
    header = (
        f"# Written by coldtier from its {template}; the run queue comes from COLDTIER_MAX_CONCURRENT_RUNS\n"
        "# and COLDTIER_MAX_RUNS_PER_TABLE (each run tag coldtier/table.<name> is one table's limit).\n"
    )
    return header + yaml.safe_dump(config, sort_keys=False)


def prepare_dagster_home(settings: Settings) -> Path:
    """Create ``DAGSTER_HOME`` with the right ``dagster.yaml`` and export it for child processes."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(instance_yaml(settings))
    os.environ["DAGSTER_HOME"] = str(home)
    # Create and migrate the storage once, here: a webserver and a daemon starting together on an
    # empty SQLite home race to create it (and can leave two alembic heads behind).
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)):
        pass
    return home
