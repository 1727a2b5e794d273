"""Prepare ``DAGSTER_HOME``: PostgreSQL storage when configured, SQLite otherwise."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from coldtier_assets.bundled import bundled_path
from coldtier_assets.config import Settings


def prepare_dagster_home(settings: Settings) -> Path:
    """Create ``DAGSTER_HOME`` with the right ``dagster.yaml`` and export it for child processes."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    template = "dagster.postgres.yaml" if settings.dagster_pg_url else "dagster.yaml"
    shutil.copyfile(bundled_path(template), home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    # Create and migrate the storage once, here: a webserver and a daemon starting together on an
    # empty SQLite home race to create it (and can leave two alembic heads behind).
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)):
        pass
    return home
