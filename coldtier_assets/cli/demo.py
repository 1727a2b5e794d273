"""`coldtier demo`: init, two hours of simulated trades, every closed window copied, status printed."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
from rich.progress import Progress

from coldtier_assets.cli.instance import prepare_dagster_home
from coldtier_assets.cli.progress import BarFeed, listening
from coldtier_assets.config import Settings
from coldtier_assets.definitions import build_definitions
from coldtier_assets.defs.checks.check_status import with_check_results
from coldtier_assets.defs.jobs import offload_job_name, tables_by_window
from coldtier_assets.defs.loggers import quiet_run_config
from coldtier_assets.defs.partitions import PARTITION_FORMAT
from coldtier_assets.offload.bootstrap import init_all
from coldtier_assets.offload.status import TableStatus, collect_status
from coldtier_assets.offload.windows import split_windows
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.resources.iceberg import open_catalog
from coldtier_assets.simulate.feed import simulate_history


@dataclass(frozen=True)
class DemoRun:
    """One offload job run of the demo."""

    job: str
    first_partition: str
    last_partition: str
    success: bool
    seconds: float


def demo_day(now: datetime) -> tuple[datetime, datetime]:
    """The demo's day: yesterday (UTC), whose windows — the daily candle's too — are all closed."""
    day_end = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day_end - timedelta(days=1), day_end


def event_log_file(settings: Settings) -> Path:
    """Where in-process runs write Dagster's event lines (they also stay in the run's event log)."""
    return settings.home / "logs" / "dagster-events.log"


def materialize_range(
    settings: Settings,
    start: datetime,
    end: datetime,
    instance: dg.DagsterInstance,
    progress: Progress | None = None,
) -> list[DemoRun]:
    """Run every offload job over [start, end): one run per window length, many windows per run.

    Dagster's event lines go to :func:`event_log_file`, not the console; ``progress`` (if given)
    shows a bar per job fed by the runs' materialization events.
    """
    definitions = build_definitions(settings)
    run_config = quiet_run_config(event_log_file(settings))
    runs = []
    for window, specs in tables_by_window(settings).items():
        name = offload_job_name(window)
        first = start.strftime(PARTITION_FORMAT)
        last = (end - window).strftime(PARTITION_FORMAT)
        partitions = len(split_windows(start, end, window)) * len(specs)
        feed = BarFeed(progress, name, partitions) if progress else None
        began = datetime.now(UTC)
        with listening(feed) if feed else nullcontext():
            result = definitions.resolve_job_def(name).execute_in_process(
                run_config=run_config,
                instance=instance,
                tags={
                    "dagster/asset_partition_range_start": first,
                    "dagster/asset_partition_range_end": last,
                },
                raise_on_error=False,
            )
        runs.append(DemoRun(name, first, last, result.success, (datetime.now(UTC) - began).total_seconds()))
    return runs


def run_demo(
    settings: Settings,
    *,
    hours: float = 2.0,
    trades_per_second: float = 150.0,
    seed: int = 7,
    say: Callable[[str], None] = print,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> tuple[list[DemoRun], list[TableStatus]]:
    """Set everything up on the configured tiers and copy the demo day; returns runs and status."""
    prepare_dagster_home(settings)
    warm = WarmTier(settings.warm_dsn)
    catalog = open_catalog(settings)
    report = init_all(warm, catalog, settings.namespace)
    say(
        f"init: {report.warm_statements} ClickHouse statements, {len(report.cold_created)} cold tables created"
    )
    day_start, day_end = demo_day(now or datetime.now(UTC))
    feed_start = day_end - timedelta(hours=hours)
    simulation = simulate_history(warm, feed_start, day_end, seed=seed, trades_per_second=trades_per_second)
    say(
        f"simulate: {simulation.total:,} trades from {feed_start:%Y-%m-%d %H:%M} to {day_end:%H:%M} UTC "
        f"in {simulation.elapsed_seconds:.1f} s ({simulation.trades_per_second:,.0f} trades/s)"
    )
    with dg.DagsterInstance.get() as instance:
        if progress is None:
            runs = materialize_range(settings, day_start, day_end, instance)
        else:
            with progress:
                runs = materialize_range(settings, day_start, day_end, instance, progress)
    for run in runs:
        if not run.success:
            say(f"{run.job}: partitions {run.first_partition} … {run.last_partition} FAILED")
    say(f"Dagster's event lines: {event_log_file(settings)} (and each run's event log in the UI)")
    return runs, with_check_results(settings, collect_status(warm, catalog, settings.namespace))
