"""Time-window partitions by trade time: one partitions definition per window length."""

from __future__ import annotations

from datetime import timedelta
from functools import cache

import dagster as dg

from coldtier_assets.config import Settings
from coldtier_assets.tables import TableSpec

PARTITION_FORMAT = "%Y-%m-%d-%H:%M"


@cache
def _partitions(window_seconds: int, start_iso: str) -> dg.TimeWindowPartitionsDefinition:
    minutes = window_seconds // 60
    if minutes % 1440 == 0:
        cron = "0 0 * * *"
    elif minutes % 60 == 0:
        cron = f"0 */{minutes // 60} * * *" if minutes > 60 else "0 * * * *"
    else:
        cron = f"*/{minutes} * * * *"
    return dg.TimeWindowPartitionsDefinition(
        cron_schedule=cron, start=start_iso, fmt=PARTITION_FORMAT, timezone="UTC", end_offset=0
    )


#: Windows per run when catching up: backfills and sensor catch-ups copy many windows per run.
MAX_WINDOWS_PER_RUN = 96


def window_partitions(window: timedelta, settings: Settings) -> dg.TimeWindowPartitionsDefinition:
    """Partitions whose windows are ``window`` long, from the configured start (aligned to UTC)."""
    return _partitions(int(window.total_seconds()), settings.start.strftime(PARTITION_FORMAT))


def partitions_for(spec: TableSpec, settings: Settings) -> dg.TimeWindowPartitionsDefinition:
    """The partitions of one cold table: its offload windows."""
    return window_partitions(spec.window(settings.window), settings)


def window_label(window: timedelta) -> str:
    """A short name for a window length: 15m, 1h, 1d."""
    seconds = int(window.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}m"


def duration_words(duration: timedelta) -> str:
    """A duration as a person says it: ``15 minutes``, ``1 hour``, ``1 day 6 hours`` (not ``0:15:00``)."""
    remaining = int(duration.total_seconds())
    parts = []
    for unit, seconds in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, remaining = divmod(remaining, seconds)
        if count:
            parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
    return " ".join(parts) or "0 seconds"
