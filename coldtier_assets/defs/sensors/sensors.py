"""Sensor-driven scheduling: copy newly closed windows, and heal windows that drifted or failed checks."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import dagster as dg

from coldtier_assets.config import Settings
from coldtier_assets.defs.partitions import duration_words
from coldtier_assets.defs.resources import ColdtierResource
from coldtier_assets.defs.sensors.healing import plan_healing
from coldtier_assets.defs.sensors.planning import failed_attempts, plan_closed_windows

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _running_sensor(
    name: str, jobs: list[dg.UnresolvedAssetJobDefinition], interval_seconds: int, description: str
) -> Callable[[Callable[..., Iterator[dg.RunRequest | dg.SkipReason]]], dg.SensorDefinition]:
    """The decorator of a coldtier sensor: on from the start (a fresh deployment copies by itself)."""
    return dg.sensor(
        name=name,
        jobs=jobs,
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=description,
    )


def build_offload_sensor(
    settings: Settings, jobs: list[dg.UnresolvedAssetJobDefinition], clock: Clock = _utc_now
) -> dg.SensorDefinition:
    """Requests a run for every closed, uncopied window (run keys make duplicate ticks no-ops).

    The cursor records, per job, the end of the latest closed window seen; the Iceberg ledgers stay
    the only record of what is copied, so a daemon that was down catches up on its next tick.
    """

    @_running_sensor(
        "offload_closed_windows",
        jobs,
        max(10, min(60, settings.window_minutes * 60 // 3)),
        f"Copies every window once it has closed and {duration_words(settings.allowed_lateness)} "
        "have passed (late trades), exactly once, upstream tables first.",
    )
    def offload_closed_windows(
        context: dg.SensorEvaluationContext, coldtier: ColdtierResource
    ) -> Iterator[dg.RunRequest | dg.SkipReason]:
        plan = plan_closed_windows(coldtier.settings, coldtier.catalog(), context.instance, clock())
        for request in plan.requests:
            yield request.run_request(failed_attempts(context.instance, request.job, request.label))
        if not plan.requests:
            yield dg.SkipReason("every closed window is copied or in flight")
        context.update_cursor(json.dumps(plan.closed_until, sort_keys=True))

    return offload_closed_windows


def build_healing_sensor(
    settings: Settings,
    jobs: list[dg.UnresolvedAssetJobDefinition],
    clock: Clock = _utc_now,
) -> dg.SensorDefinition:
    """Re-requests copied windows whose warm rows changed (late trades) or whose consistency check failed."""

    @_running_sensor(
        "heal_drifted_windows",
        jobs,
        max(30, settings.window_minutes * 60 // 3),
        f"Compares the last {duration_words(settings.heal_lookback)} of copied windows with ClickHouse "
        "and re-copies those that changed or failed their consistency check.",
    )
    def heal_drifted_windows(
        context: dg.SensorEvaluationContext, coldtier: ColdtierResource
    ) -> Iterator[dg.RunRequest | dg.SkipReason]:
        warm = coldtier.warm_reader()
        with warm.session():  # one warm session (one child process when embedded) per tick
            requests = plan_healing(
                coldtier.settings,
                warm,
                coldtier.catalog(),
                context.instance,
                clock(),
                coldtier.settings.heal_lookback,
            )
        for request in requests:
            yield request.run_request(failed_attempts(context.instance, request.job, request.label))
        if not requests:
            yield dg.SkipReason("no copied window drifted from ClickHouse")

    return heal_drifted_windows
