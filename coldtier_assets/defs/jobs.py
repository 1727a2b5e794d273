"""Offload jobs: one per window length (a job's assets must share one partitions definition)."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import dagster as dg

from coldtier_assets.config import Settings
from coldtier_assets.defs.assets.common import cold_key
from coldtier_assets.defs.partitions import duration_words, window_label
from coldtier_assets.tables import TABLES, TableSpec

#: Run tag marking a run that copies a table (``coldtier/table.<name>``); the queued run coordinator limits
#: how many runs carrying it are in progress at once (see ``cli/instance.py``).
TABLE_TAG_PREFIX = "coldtier/table."


def table_tag(name: str) -> str:
    """The run tag key of a table: runs copying it carry ``{table_tag(name): "copy"}``."""
    return TABLE_TAG_PREFIX + name


def tables_by_window(settings: Settings) -> dict[timedelta, list[TableSpec]]:
    """Registry tables grouped by their offload window, shortest window first."""
    groups: dict[timedelta, list[TableSpec]] = defaultdict(list)
    for spec in TABLES:
        groups[spec.window(settings.window)].append(spec)
    return dict(sorted(groups.items()))


def offload_job_name(window: timedelta) -> str:
    """Name of the offload job for one window length."""
    return f"offload_{window_label(window)}"


def build_offload_jobs(settings: Settings) -> list[dg.UnresolvedAssetJobDefinition]:
    """An in-process job per window length, selecting the cold tables of that window."""
    return [
        dg.define_asset_job(
            name=offload_job_name(window),
            selection=dg.AssetSelection.assets(*(cold_key(spec) for spec in specs)),
            executor_def=dg.in_process_executor,
            description=(
                f"Copies windows of {duration_words(window)} of trade time, exactly once, into "
                f"{', '.join(spec.name for spec in specs)}."
            ),
        )
        for window, specs in tables_by_window(settings).items()
    ]
