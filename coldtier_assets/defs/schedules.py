"""Schedules: the daily maintenance at 02:00 UTC, and the Definitions the lead merges in."""

from __future__ import annotations

import dagster as dg

from coldtier_assets.config import Settings
from coldtier_assets.defs.assets.maintenance import maintenance_job

MAINTENANCE_CRON = "0 2 * * *"
MAINTENANCE_SCHEDULE = "maintenance_daily"


def build_maintenance_schedule() -> dg.ScheduleDefinition:
    """The `maintenance` job every day at 02:00 UTC, on every table with the default policy."""
    return dg.ScheduleDefinition(
        name=MAINTENANCE_SCHEDULE,
        job=maintenance_job,
        cron_schedule=MAINTENANCE_CRON,
        execution_timezone="UTC",
        run_config={"ops": {"maintain_cold_tables": {"config": {"tables": []}}}},
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Daily cold-tier maintenance: compaction, snapshot expiry, orphan removal, audit.",
    )


def build_maintenance_definitions(settings: Settings) -> dg.Definitions:
    """The maintenance job and its schedule (the `coldtier` resource comes from the main Definitions)."""
    del settings  # the job reads everything through the `coldtier` resource
    return dg.Definitions(jobs=[maintenance_job], schedules=[build_maintenance_schedule()])
