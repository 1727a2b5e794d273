"""Many workers: one simulated day copied by 1, 2 and 4 concurrent Dagster runs, verified exactly once.

The day: 6 hours of the simulated multi-exchange feed (24 non-empty 15-minute windows), the tables of
the 15-minute offload job (Bronze x3, Silver, rejected_trades, Gold 1m/5m/15m), checks included.
For each N, a fresh cold tier (same warm data) and N run processes started at once, each a Dagster
run of ``offload_15m`` over 24/N consecutive windows on the shared SQLite instance, as N workers of
the queued run coordinator would run them. Reported: wall time, rows and windows per second/hour,
commit conflicts retried, CPU seconds of each worker process (its own and its children's, from
``getrusage``), and the exactly-once verification (one ledger range per table, at most one append
per window, every window's rows and checksum equal to ClickHouse's ``FINAL``).

Usage: .venv/bin/python benchmarks/concurrent_runs.py [--runs 1 2 4] [--rate 30] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

DAY = datetime(2026, 11, 24, tzinfo=UTC)
FIRST = DAY + timedelta(hours=9)
WINDOW = timedelta(minutes=15)
WINDOWS = 24
JOB = "offload_15m"


def _env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "COLDTIER_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster_home"),
        "COLDTIER_START": DAY.date().isoformat(),
    }


def prepare(home: Path, rate: float) -> int:
    """The warm day (simulated feed) under ``home``; returns the trades."""
    from coldtier_assets.config import load_settings
    from coldtier_assets.offload.bootstrap import init_all
    from coldtier_assets.resources.clickhouse import WarmTier
    from coldtier_assets.resources.iceberg import open_catalog
    from coldtier_assets.simulate.feed import simulate_history

    shutil.rmtree(home, ignore_errors=True)
    settings = load_settings(_env(home))
    warm = WarmTier(settings.warm_dsn)
    init_all(warm, open_catalog(settings), settings.namespace)
    report = simulate_history(warm, FIRST, FIRST + WINDOW * WINDOWS, seed=7, trades_per_second=rate)
    warm.close()
    return report.total


def child(first: str, last: str) -> None:
    """One run worker: a Dagster run of the job over partitions first..last; prints its figures."""
    import dagster as dg

    from coldtier_assets.definitions import defs

    began = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        result = defs.resolve_job_def(JOB).execute_in_process(
            instance=instance,
            tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
            run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
            raise_on_error=False,
        )
    wall = time.perf_counter() - began
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    print(json.dumps({"run_id": result.run_id, "success": result.success, "wall": wall, "cpu": cpu}))


def _materializations(home: Path, run_ids: list[str]) -> tuple[int, int, int]:
    """Rows, partitions x tables and conflict retries recorded by the runs' materializations.

    A range run records one materialization per partition, each with the run's figures for the
    table: rows and retries are counted once per (run, table).
    """
    import dagster as dg

    windows = 0
    per_table: dict[tuple[str, str], tuple[int, int]] = {}
    os.environ["DAGSTER_HOME"] = str(home / "dagster_home")
    with dg.DagsterInstance.get() as instance:
        for run_id in run_ids:
            records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
            for record in records.records:
                materialization = record.event_log_entry.asset_materialization
                assert materialization is not None
                windows += 1
                metadata = materialization.metadata
                per_table[(run_id, materialization.asset_key.to_user_string())] = (
                    int(metadata["rows"].value),  # type: ignore[arg-type]
                    int(metadata["conflict_retries"].value),  # type: ignore[arg-type]
                )
    return sum(rows for rows, _ in per_table.values()), windows, sum(r for _, r in per_table.values())


def verify(home: Path) -> str:
    """Exactly once: one ledger range per table, ≤ 1 append per window, rows and checksums = FINAL."""
    from coldtier_assets.config import load_settings
    from coldtier_assets.defs.jobs import tables_by_window
    from coldtier_assets.offload.sink import PREFIX, read_ledger
    from coldtier_assets.offload.verify import Verdict, verify_windows
    from coldtier_assets.offload.windows import split_windows
    from coldtier_assets.resources.clickhouse import WarmTier
    from coldtier_assets.resources.iceberg import open_catalog

    settings = load_settings(_env(home))
    warm, catalog = WarmTier(settings.warm_dsn), open_catalog(settings)
    windows = split_windows(FIRST, FIRST + WINDOW * WINDOWS, WINDOW)
    for spec in tables_by_window(settings)[WINDOW]:
        table = catalog.load_table((settings.namespace, spec.name))
        ranges = read_ledger(table).ranges
        assert ranges == ((windows[0].epoch_range[0], windows[-1].epoch_range[1]),), (spec.name, ranges)
        appends: Counter[str] = Counter()
        for snapshot in table.metadata.snapshots:
            summary = snapshot.summary
            start = summary.additional_properties.get(PREFIX + "window-start") if summary else None
            if summary and start and summary.operation.value == "append":
                appends[start] += 1
        assert max(appends.values(), default=1) == 1, (spec.name, appends.most_common(3))
        verdicts = {check.verdict for check in verify_windows(settings, warm, table, spec, windows)}
        assert verdicts == {Verdict.MATCH}, (spec.name, verdicts)
    warm.close()
    return "exactly once: 1 ledger range per table, ≤ 1 append per window, every window = ClickHouse FINAL"


def measure(home: Path, runs: int) -> dict[str, object]:
    """Copy the day with ``runs`` concurrent run processes into a fresh cold tier."""
    from coldtier_assets.cli.instance import prepare_dagster_home
    from coldtier_assets.config import load_settings
    from coldtier_assets.defs.partitions import PARTITION_FORMAT
    from coldtier_assets.offload.bootstrap import init_all
    from coldtier_assets.resources.clickhouse import WarmTier
    from coldtier_assets.resources.iceberg import open_catalog

    settings = load_settings(_env(home))  # the same warm day, a fresh cold tier and Dagster instance
    Path(settings.catalog_uri.removeprefix("sqlite:///")).unlink(missing_ok=True)
    shutil.rmtree(home / "warehouse", ignore_errors=True)
    shutil.rmtree(settings.dagster_home, ignore_errors=True)
    warm = WarmTier(settings.warm_dsn)
    init_all(warm, open_catalog(settings), settings.namespace)
    warm.close()
    prepare_dagster_home(settings)
    per_run = WINDOWS // runs
    starts = [FIRST + WINDOW * per_run * i for i in range(runs)]
    began = time.perf_counter()
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--child",
                start.strftime(PARTITION_FORMAT),
                (start + WINDOW * (per_run - 1)).strftime(PARTITION_FORMAT),
            ],
            env=_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for start in starts
    ]
    outputs = [process.communicate() for process in processes]
    wall = time.perf_counter() - began
    results = []
    for process, (out, err) in zip(processes, outputs, strict=True):
        if process.returncode != 0:
            raise RuntimeError(f"a run worker failed:\n{err[-3000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    if not all(result["success"] for result in results):
        raise RuntimeError(f"a run failed: {results}\n{outputs[0][1][-3000:]}")
    rows, windows, retries = _materializations(home, [result["run_id"] for result in results])
    return {
        "runs": runs,
        "wall_s": round(wall, 1),
        "rows": rows,
        "table_windows": windows,
        "rows_per_s": round(rows / wall),
        "windows_per_h": round(windows / wall * 3600),
        "conflict_retries": retries,
        "cpu_s_per_worker": [round(result["cpu"], 1) for result in results],
        "cpu_utilisation": round(sum(result["cpu"] for result in results) / wall / (os.cpu_count() or 1), 2),
        "verified": verify(home),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--rate", type=float, default=30.0, help="simulated trades per second")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    parser.add_argument("--child", nargs=2, metavar=("FIRST", "LAST"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; command: {' '.join(sys.argv)}")
    with open("/proc/loadavg") as load:
        print(f"load average before: {load.read().split()[:3]}")
    out = args.out.resolve()
    home = out / "concurrent_runs"
    trades = prepare(home, args.rate)
    print(f"day: {WINDOWS} windows of 15 minutes from {FIRST:%Y-%m-%d %H:%M}, {trades:,} trades; job {JOB}")
    for runs in args.runs:
        print(json.dumps(measure(home, runs)), flush=True)
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
