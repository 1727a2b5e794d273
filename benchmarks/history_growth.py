"""Cost of a window as the table's history grows (issue #13): no maintenance between commits.

Two parts, each on its own fresh embedded home with 1-minute windows (``COLDTIER_WINDOW_MINUTES=1``)
and a small trade rate, so the prior commits are cheap to create:

* ``silver``: ``silver_trades`` alone. Before each point, the offload core commits 1-minute windows
  (one commit each, untimed) until the table holds the point's number of prior window commits; then
  it times ``--repeats`` (default 3) more one-window offloads in one warm session (the median and
  the slowest are reported), ``verify`` of one window and the table's per-partition checks of one
  window, and reports the table's snapshots, live manifests, ``metadata.json`` size and the
  planning time of a one-window scan.
* ``cycle``: all the tables through Dagster. Point *k* uses simulated day *k*: trades in its first
  *n* minutes (the history, copied untimed by the offload core, one commit per 1-minute window) and
  in its last minute; the empty rest of the day is copied untimed (one marker commit per table).
  Then one cycle is timed: every offload job runs its partition ending at the day's end
  (``execute_in_process`` on a SQLite Dagster instance, checks included), so each cycle copies the
  same shape of data whatever the history.

Figures per point are printed as JSON lines and, at the end, as Markdown tables. Compare ratios
within one run: the machine is shared. The ``*_cpu_s`` figures are this process's CPU time
(``time.process_time``; not the cold-query worker's), much less disturbed by other load than wall time.

Usage: .venv/bin/python benchmarks/history_growth.py [--points 0 100 300 700 2000]
       [--cycle-points …] [--max-commits N] [--parts silver cycle] [--out DIR] [--rate TRADES_PER_S]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from coldtier_assets.offload.batch import BatchLimits

T0 = datetime(2026, 11, 10, tzinfo=UTC)  # day 0 of the simulated history (partitions exist: it is past)
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)
REPEATS = 3  # timed one-window offloads per point (median reported); --repeats
#: Prior commits are the steady state: a sensor run copies one window, one commit.
ONE_WINDOW_PER_COMMIT = BatchLimits(windows=1)


def _configure(home: Path) -> None:
    shutil.rmtree(home, ignore_errors=True)
    os.environ.update(
        {
            "COLDTIER_HOME": str(home),
            "DAGSTER_HOME": str(home / "dagster_home"),
            "COLDTIER_WINDOW_MINUTES": "1",
            "COLDTIER_START": (T0 - 2 * DAY).strftime("%Y-%m-%d"),
        }
    )


def table_shape(table: Any, time_column: str, window: Any) -> dict[str, float]:
    """Snapshots, live manifests, metadata.json size and one-window plan time of a table."""
    from coldtier_assets.offload.sink import window_filter

    snapshot = table.current_snapshot()
    manifests = len(snapshot.manifests(table.io)) if snapshot else 0
    size = len(table.io.new_input(table.metadata_location)) if table.metadata_location else 0
    began = time.perf_counter()
    planned = list(table.scan(row_filter=window_filter(time_column, window)).plan_files())
    plan = time.perf_counter() - began
    return {
        "snapshots": len(table.metadata.snapshots),
        "manifests": manifests,
        "metadata_kib": round(size / 1024, 1),
        "plan_s": round(plan, 3),
        "plan_files": len(planned),
    }


def silver_part(home: Path, points: list[int], rate: float, repeats: int = REPEATS) -> list[dict[str, Any]]:
    """One window of Silver as its history grows (offload core, verify, per-partition checks)."""
    _configure(home)
    import dagster as dg

    from coldtier_assets.config import load_settings
    from coldtier_assets.defs.assets.keys import cold_key
    from coldtier_assets.defs.checks.asset_checks import check_names, evaluate_checks
    from coldtier_assets.defs.resources import ColdtierResource
    from coldtier_assets.offload.bootstrap import init_all
    from coldtier_assets.offload.pipeline import Offloader
    from coldtier_assets.offload.verify import verify_windows
    from coldtier_assets.offload.windows import Window
    from coldtier_assets.resources.clickhouse import WarmTier
    from coldtier_assets.resources.iceberg import open_catalog
    from coldtier_assets.simulate.feed import simulate_history
    from coldtier_assets.tables import get_table

    settings = load_settings()
    warm = WarmTier(settings.warm_dsn)
    init_all(warm, open_catalog(settings), settings.namespace)
    spec = get_table("silver_trades")
    minutes = max(points) + repeats * len(points) + 1
    simulate_history(warm, T0, T0 + minutes * MINUTE, seed=7, trades_per_second=rate)
    offloader = Offloader(settings, warm, lambda: open_catalog(settings), limits=ONE_WINDOW_PER_COMMIT)
    resource = ColdtierResource.from_settings(settings)
    checks = {dg.AssetCheckKey(cold_key(spec), name) for name in check_names(spec)}
    cursor, commits, rows = T0, 0, []
    for point in points:
        built = time.perf_counter()
        while commits < point:
            span = (point - commits) * MINUTE
            commits += offloader.offload(spec, cursor, cursor + span, run_id="history").commits
            cursor += span
        build_s = time.perf_counter() - built
        table = open_catalog(settings).load_table((settings.namespace, spec.name))
        figures: dict[str, Any] = {"part": "silver", "prior_commits": commits, "build_s": round(build_s, 1)}
        figures |= table_shape(
            table,
            spec.time_column,
            Window(cursor - MINUTE, cursor) if commits else Window(cursor, cursor + MINUTE),
        )
        window_times, cpu_times, commit_times = [], [], []
        # One warm session for the timed windows: otherwise the warm tier reopens chDB every 2 s
        # (``max_hold_seconds``), ~1 s of CPU that grows with the warm tier's parts, not with the
        # Iceberg history this measures.
        with warm.session():
            for _ in range(repeats):
                began, cpu = time.perf_counter(), time.process_time()
                report = offloader.offload(spec, cursor, cursor + MINUTE, run_id="measured")
                window_times.append(time.perf_counter() - began)
                cpu_times.append(time.process_time() - cpu)
                commit_times.append(report.results[0].seconds)
                commits += report.commits
                cursor += MINUTE
        window = Window(cursor - MINUTE, cursor)
        table = open_catalog(settings).load_table((settings.namespace, spec.name))
        began, cpu = time.perf_counter(), time.process_time()
        verdicts = verify_windows(settings, warm, table, spec, [window])
        verify_s, verify_cpu = time.perf_counter() - began, time.process_time() - cpu
        assert all(check.ok for check in verdicts), verdicts
        began, cpu = time.perf_counter(), time.process_time()
        outcomes = list(evaluate_checks(checks, resource, spec, window))
        checks_s, checks_cpu = time.perf_counter() - began, time.process_time() - cpu
        assert all(outcome.passed for outcome in outcomes), outcomes
        figures |= {
            "window_s": round(statistics.median(window_times), 3),
            "window_max_s": round(max(window_times), 3),  # a manifest merge (one commit in eight)
            "window_cpu_s": round(statistics.median(cpu_times), 3),
            "write_commit_s": round(statistics.median(commit_times), 3),
            "verify_s": round(verify_s, 3),
            "verify_cpu_s": round(verify_cpu, 3),
            "checks_s": round(checks_s, 3),
            "checks_cpu_s": round(checks_cpu, 3),
        }
        print(json.dumps(figures), flush=True)
        rows.append(figures)
    return rows


def cycle_part(
    home: Path, points: list[int], rate: float, profile_dir: Path | None = None
) -> list[dict[str, Any]]:
    """One cycle of all tables through Dagster as the history grows (day k holds point k)."""
    _configure(home)
    import dagster as dg

    from coldtier_assets.cli.instance import prepare_dagster_home
    from coldtier_assets.config import load_settings
    from coldtier_assets.definitions import build_definitions
    from coldtier_assets.defs.jobs import offload_job_name, tables_by_window
    from coldtier_assets.defs.partitions import PARTITION_FORMAT
    from coldtier_assets.offload.bootstrap import init_all
    from coldtier_assets.offload.pipeline import Offloader
    from coldtier_assets.offload.windows import Window
    from coldtier_assets.resources.clickhouse import WarmTier
    from coldtier_assets.resources.iceberg import open_catalog
    from coldtier_assets.simulate.feed import simulate_history
    from coldtier_assets.tables import TABLES

    settings = load_settings()
    warm = WarmTier(settings.warm_dsn)
    init_all(warm, open_catalog(settings), settings.namespace)
    prepare_dagster_home(settings)
    definitions = build_definitions(settings)
    offloader = Offloader(settings, warm, lambda: open_catalog(settings), limits=ONE_WINDOW_PER_COMMIT)
    specs = list(TABLES)
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    rows, done, silver_commits = [], 0, 0
    with dg.DagsterInstance.get() as instance:
        for day, point in enumerate(points):
            begin, end = T0 + day * DAY, T0 + (day + 1) * DAY
            history = max(0, point - done)
            if history:
                simulate_history(warm, begin, begin + history * MINUTE, seed=day, trades_per_second=rate)
            simulate_history(warm, end - MINUTE, end, seed=100 + day, trades_per_second=rate)
            built = time.perf_counter()
            for spec in specs:  # the history, one commit per non-empty window, and the empty rest of the day
                length = spec.window(settings.window)
                if length < DAY:
                    report = offloader.offload(spec, begin, end - length, run_id="history")
                    silver_commits += report.commits if spec.name == "silver_trades" else 0
            build_s = time.perf_counter() - built
            done += history
            catalog = open_catalog(settings)
            table = catalog.load_table((settings.namespace, "silver_trades"))
            figures: dict[str, Any] = {
                "part": "cycle",
                "prior_commits": silver_commits,
                "build_s": round(build_s, 1),
            }
            figures |= table_shape(table, "trade_time", Window(end - MINUTE, end))
            profiler = cProfile.Profile() if profile_dir else None
            began, cpu = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            for window in tables_by_window(settings):
                job_began = time.perf_counter()
                result = definitions.resolve_job_def(offload_job_name(window)).execute_in_process(
                    instance=instance,
                    partition_key=(end - window).strftime(PARTITION_FORMAT),
                    run_config=quiet,
                )
                assert result.success
                figures[offload_job_name(window)] = round(time.perf_counter() - job_began, 2)
            figures["cycle_s"] = round(time.perf_counter() - began, 2)
            figures["cycle_cpu_s"] = round(time.process_time() - cpu, 2)
            if profiler and profile_dir:
                profiler.disable()
                profile_dir.mkdir(parents=True, exist_ok=True)
                profiler.dump_stats(profile_dir / f"cycle_{silver_commits}.prof")
            silver_commits += 1
            print(json.dumps(figures), flush=True)
            rows.append(figures)
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows of one part as a Markdown table (columns in first-seen order)."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns and key != "part"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---:|" * len(columns)]
    lines += ["| " + " | ".join(str(row.get(column, "")) for column in columns) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, nargs="+", default=[0, 100, 300, 700, 2000])
    parser.add_argument(
        "--cycle-points", type=int, nargs="+", help="history points of the cycle part (default --points)"
    )
    parser.add_argument("--max-commits", type=int, help="quick run: drop the points above this")
    parser.add_argument("--parts", nargs="+", choices=["silver", "cycle"], default=["silver", "cycle"])
    parser.add_argument("--rate", type=float, default=1.0, help="simulated trades per second (all exchanges)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    parser.add_argument("--repeats", type=int, default=REPEATS, help="timed windows per silver point")
    parser.add_argument("--profile-dir", type=Path, help="cycle part: write each cycle's cProfile stats here")
    args = parser.parse_args()
    cap = args.max_commits if args.max_commits is not None else max(args.points)
    points = sorted(p for p in args.points if p <= cap)
    cycle_points = sorted(p for p in (args.cycle_points or args.points) if p <= cap)
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; command: {' '.join(sys.argv)}", flush=True)
    results = {}
    if "silver" in args.parts:
        results["silver"] = silver_part(
            (args.out / "history_silver").resolve(), points, args.rate, args.repeats
        )
    if "cycle" in args.parts:
        results["cycle"] = cycle_part(
            (args.out / "history_cycle").resolve(), cycle_points, args.rate, args.profile_dir
        )
    for part, rows in results.items():
        print(f"\n{part}:\n{markdown(rows)}")


if __name__ == "__main__":
    main()
