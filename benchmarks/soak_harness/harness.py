"""The soak: start the stack, feed it and inject faults for N minutes, settle, verify, report.

The live phase lasts ``minutes``: the feed runs throughout; faults start after a warm-up (the
history backlog is copied first) and stop a little before the end, one at a time in a seeded
random order (every kind once first, then at random), with random gaps. Maintenance and the
foreign writer run in the background while the next faults happen. Then the feed stops, the
harness waits until every closed window is copied and no run is in flight, and verifies; a
verification that finds anomalies is repeated (the healing sensor may still be re-copying late
trades) until it is clean or the settle timeout passes. The last verification is the result.
"""

from __future__ import annotations

import logging
import random
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from benchmarks.soak_harness.faults import KINDS, Injector
from benchmarks.soak_harness.monitor import Monitor
from benchmarks.soak_harness.report import build_report, cold_lags
from benchmarks.soak_harness.stack import Stack, StackOptions, start_stack
from benchmarks.soak_harness.verify import Verification, verify_all
from coldtier_assets.defs.sensors.planning import IN_FLIGHT, windows_of_run
from coldtier_assets.offload.sink import read_ledger
from coldtier_assets.offload.windows import Window, aligned_windows, closed_window_end
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.resources.iceberg import open_catalog
from coldtier_assets.tables import TABLES

log = logging.getLogger("soak")


@dataclass(frozen=True)
class SoakOptions:
    """The command line of ``benchmarks/soak.py``."""

    minutes: float
    seed: int
    out: Path
    rate: float = 5.0
    settle_timeout: float = 600.0
    spark_maintenance: bool = False
    keep: bool = False
    command: str = ""

    @property
    def short(self) -> bool:
        """A run of a few minutes: shorter outages and gaps so every fault kind fits."""
        return self.minutes < 10


def _schedule(rng: random.Random, kinds: list[str]) -> list[str]:
    """Every kind once in random order, then 200 random picks (more than any run uses)."""
    first = rng.sample(kinds, len(kinds))
    return first + [rng.choice(kinds) for _ in range(200)]


def _live_phase(options: SoakOptions, injector: Injector, began: float) -> None:
    warm_up, tail = (20.0, 25.0) if options.short else (60.0, 90.0)
    gap = (2.0, 6.0) if options.short else (10.0, 45.0)
    end = began + options.minutes * 60
    kinds = [k for k in KINDS if k != "disk_full" or injector.stack.tmpfs]
    injector.wait(max(0.0, began + warm_up - time.monotonic()))
    for kind in _schedule(injector.rng, kinds):
        if end - time.monotonic() < tail:
            break
        record = injector.inject(kind)
        log.info("fault %s at %.0f s: %s %s", kind, record.at, record.detail, record.skipped or "")
        injector.wait(min(injector.rng.uniform(*gap), max(0.0, end - tail - time.monotonic())))
    injector.wait(max(0.0, end - time.monotonic()))


def _uncopied(stack: Stack, since: datetime, until: datetime) -> list[str]:
    catalog = open_catalog(stack.settings)
    behind = []
    for spec in TABLES:
        length = spec.window(stack.settings.window)
        end = closed_window_end(until, length, stack.settings.allowed_lateness)
        start = since - timedelta(seconds=since.timestamp() % length.total_seconds())
        ledger = read_ledger(catalog.load_table((stack.settings.namespace, spec.name)))
        if start < end and any(True for _ in ledger.missing(aligned_windows(start, end, length))):
            behind.append(spec.name)
    return behind


def _runs_in_flight(stack: Stack, until: datetime) -> int:
    """Runs queued or running that copy a window ending by ``until`` (later windows keep closing)."""
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(statuses=IN_FLIGHT))
    length = stack.settings.window
    return sum(
        1
        for run in runs
        if any(start + length <= until for start in windows_of_run(run, length)) or not run.tags
    )


def _settle(
    options: SoakOptions, stack: Stack, injector: Injector, until: datetime
) -> tuple[Verification, dict[str, object]]:
    """Wait for the sensors to copy every closed window, then verify (again, while anomalies heal)."""
    started = time.monotonic()
    deadline = started + options.settle_timeout
    injector.wait(max(0.0, (until - datetime.now(UTC)).total_seconds()))
    passes: list[dict[str, int]] = []
    result = Verification()
    while True:
        try:
            behind, busy = _uncopied(stack, stack.history_start, until), _runs_in_flight(stack, until)
        except Exception as error:  # e.g. a connection dropped: try again
            log.info("settle check failed: %s", error)
            behind, busy = ["?"], 1
        if (not behind and not busy) or time.monotonic() > deadline:
            warm = WarmTier(stack.settings.warm_dsn, lock_timeout_seconds=600)
            try:
                result = verify_all(
                    stack.settings, warm, open_catalog(stack.settings), stack.history_start, until
                )
            finally:
                warm.close()
            passes.append(result.by_kind())
            if not result.anomalies or time.monotonic() > deadline:
                break
        injector.wait(10.0)
    return result, {"seconds": round(time.monotonic() - started, 1), "verification_passes": passes}


def run_soak(options: SoakOptions) -> dict[str, object]:
    """Run the whole soak and return the report."""
    stack = start_stack(StackOptions(out=options.out, seed=options.seed, rate=options.rate))
    try:
        began = time.monotonic()
        live_start = datetime.now(UTC)
        monitor = Monitor(stack.settings, since=stack.history_start)
        monitor.start()
        injector = Injector(
            stack, monitor, random.Random(options.seed), began, options.short, options.spark_maintenance
        )
        _live_phase(options, injector, began)
        minutes = (time.monotonic() - began) / 60
        stack.stop_feed()
        stopped = datetime.now(UTC)
        background = injector.finish_background()
        until = stopped  # every window closed when the feed stopped is verified
        verification, settle = _settle(options, stack, injector, until)
        monitor.stop()
        windows = {spec.name: spec.window(stack.settings.window) for spec in TABLES}
        feed = (options.out / "feed.json").read_text() if (options.out / "feed.json").exists() else "{}"
        return build_report(
            minutes=minutes,
            seed=options.seed,
            command=options.command,
            records=injector.records,
            monitor=monitor,
            verification=verification,
            lags=cold_lags(monitor, verification, windows, live_start),
            extra={
                "settle": settle,
                "late_trades_inserted": len(injector.late_trades),
                "feed": __import__("json").loads(feed),
                "background_exit_codes": background,
                "unexpected_exits": stack.unexpected_exits,
                "disk_full_mode": "tmpfs" if stack.tmpfs else "skipped: mount not allowed",
                "config": {
                    "window_minutes": 1,
                    "allowed_lateness_seconds": int(stack.settings.allowed_lateness.total_seconds()),
                    "rate_trades_per_second": options.rate,
                    "warm_lock_timeout_seconds": int(stack.settings.warm_lock_timeout.total_seconds()),
                    "spark_maintenance": options.spark_maintenance,
                    "verified_from": stack.history_start.isoformat(),
                    "verified_until": until.isoformat(),
                },
            },
        )
    finally:
        stack.close()
        if not options.keep:
            shutil.rmtree(options.out, ignore_errors=True)


__all__ = ["SoakOptions", "Window", "run_soak"]
