"""Where a first copy of one simulated day goes, against ClickHouse's export of the same day.

The day of ``offload_throughput.py --day-only`` (2,249,228 Silver trades, 24 windows of 15 minutes),
prepared once; each measurement runs in fresh processes, the variants of a comparison interleaved
``--repeats`` times (medians reported; the machine is shared and noisy):

* ``imports``: loading the command line and the offload modules, plainly or through
  ``cli.entry.load_app`` (garbage collector paused while they load, then frozen), with and without
  pandas (``cli/without_pandas.py``), and how many objects the collector tracks once they are loaded;
* ``arrow``: reading the 24 windows with their row hashes as Arrow, with ClickHouse's default LZ4
  compression of Arrow output and without (what ``WarmTier.arrow`` asks for when embedded), the
  setting made once on the connection as ``WarmTier`` does;
* ``settings``: the cost of a query that passes a setting with it, against one on a connection set
  once (chDB pays per query for per-query settings);
* ``queries``: the same reads as 24 window queries, 6 hourly queries, or one query, and as 24 window
  queries without the row hash (what hashing costs);
* ``copy``: inside the offload core's copy of the day (``Offloader.offload``, one process), the time
  the main thread spends in warm reads and the writer thread in Parquet writes;
* ``timeline``: a whole ``coldtier offload`` first copy, with timestamps when the command line is
  loaded, when the offload starts, when its commit starts and ends, and at exit.

Usage: PYTHONPATH=$PWD .venv/bin/python benchmarks/day_breakdown.py [--repeats 5] [--out DIR]
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import resource
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from offload_throughput import DAY_END, DAY_START, DAY_TRADES, _env, _timed, prepare, run_child

IMPORTS = {
    "plain": "import coldtier_assets.cli.main, coldtier_assets.offload.pipeline",
    "gc paused": "from coldtier_assets.cli.entry import load_app; load_app(); import coldtier_assets.offload.pipeline",
    "gc paused, no pandas (as `coldtier offload`)": (
        "from coldtier_assets.cli.without_pandas import refuse_pandas_for; refuse_pandas_for(['offload']); "
        "from coldtier_assets.cli.entry import load_app; load_app(); import coldtier_assets.offload.pipeline"
    ),
}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child_reads(compression: str, windows: int, row_hash: bool = True) -> dict[str, float]:
    """Read the day as ``windows`` equal queries (with row hashes), Arrow ``compression``: wall and CPU."""
    from coldtier_assets.config import load_settings
    from coldtier_assets.offload.source import check_source, row_hash_expression
    from coldtier_assets.offload.windows import Window, split_windows
    from coldtier_assets.resources.clickhouse import WarmTier
    from coldtier_assets.resources.iceberg import open_catalog
    from coldtier_assets.tables import get_table

    settings = load_settings()
    warm = WarmTier(settings.warm_dsn)
    table = open_catalog(settings).load_table((settings.namespace, "silver_trades"))
    length = (DAY_END - DAY_START) / windows
    with warm.session() as client:
        client.command(f"SET output_format_arrow_compression_method = '{compression}'")  # as WarmTier does
        source = check_source(warm, get_table("silver_trades"), table.schema())
        columns = ", ".join(f"`{field.name}`" for field in source.schema.fields)
        if row_hash:
            columns += f", {row_hash_expression(source.schema)} AS h"
        began, cpu, rows = time.perf_counter(), _cpu(), 0
        for window in (
            split_windows(DAY_START, DAY_END, length) if windows > 1 else [Window(DAY_START, DAY_END)]
        ):
            rows += client.query_arrow(
                f"SELECT {columns} {source.from_clause} WHERE {source.window_predicate(window)}"
            ).num_rows
        return {"seconds": time.perf_counter() - began, "cpu_s": _cpu() - cpu, "rows": rows}


def child_query_settings(queries: int = 50) -> dict[str, float]:
    """Milliseconds per ``SELECT 1`` as Arrow: the Arrow setting passed with each query, or set once."""
    from coldtier_assets.config import load_settings
    from coldtier_assets.resources.clickhouse import UNCOMPRESSED_ARROW, WarmTier

    warm = WarmTier(load_settings().warm_dsn)
    with warm.session() as client:

        def per_query(settings: dict[str, str] | None) -> float:
            client.query_arrow("SELECT 1", settings=settings)  # warm-up
            began = time.perf_counter()
            for _ in range(queries):
                client.query_arrow("SELECT 1", settings=settings)
            return round((time.perf_counter() - began) / queries * 1000, 2)

        return {"with each query": per_query(UNCOMPRESSED_ARROW), "set on the connection": per_query(None)}


def child_copy() -> dict[str, float]:
    """The offload core's copy of the day: its time, and the time in warm reads and in Parquet writes."""
    from coldtier_assets.config import load_settings
    from coldtier_assets.offload.datafiles import DataFileWriter
    from coldtier_assets.offload.pipeline import Offloader
    from coldtier_assets.resources.clickhouse import WarmTier
    from coldtier_assets.resources.iceberg import open_catalog
    from coldtier_assets.tables import get_table

    spent = {"warm reads (main thread)": 0.0, "Parquet writes (writer thread)": 0.0}

    def timed(function: Any, key: str) -> Any:
        def run(*a: Any, **k: Any) -> Any:
            began = time.perf_counter()
            try:
                return function(*a, **k)
            finally:
                spent[key] += time.perf_counter() - began

        return run

    WarmTier.arrow = timed(WarmTier.arrow, "warm reads (main thread)")  # type: ignore[method-assign]
    DataFileWriter.write = timed(DataFileWriter.write, "Parquet writes (writer thread)")  # type: ignore[method-assign]
    settings = load_settings()
    offloader = Offloader(settings, WarmTier(settings.warm_dsn), lambda: open_catalog(settings))
    began = time.perf_counter()
    offloader.offload(get_table("silver_trades"), DAY_START, DAY_END)
    return {"offload": time.perf_counter() - began, **spent}


def child_timeline(args: list[str]) -> dict[str, float]:
    """Run ``coldtier offload args`` in this process with timestamps; seconds since the process began."""
    began = time.perf_counter()
    marks: dict[str, float] = {}

    def mark(name: str) -> None:
        marks[name] = round(time.perf_counter() - began, 3)

    from coldtier_assets.cli.entry import load_app
    from coldtier_assets.cli.without_pandas import refuse_pandas_for

    refuse_pandas_for(["offload"])  # as the executable does (cli/entry.py)
    app = load_app()
    mark("command line loaded")
    from coldtier_assets.offload import pipeline

    offload, commit = pipeline.Offloader.offload, pipeline.Offloader._commit

    def timed_offload(self: Any, *a: Any, **k: Any) -> Any:
        mark("offload starts")
        return offload(self, *a, **k)

    def timed_commit(self: Any, *a: Any, **k: Any) -> Any:
        mark("commit starts")
        result = commit(self, *a, **k)
        mark("commit ends")
        return result

    pipeline.Offloader.offload, pipeline.Offloader._commit = timed_offload, timed_commit  # type: ignore[method-assign]
    sys.argv = ["coldtier", "offload", *args]
    try:
        app()
    except SystemExit as exit_:
        if exit_.code:
            raise
    from coldtier_assets.resources.clickhouse import _close_all_tiers

    _close_all_tiers()  # what the exit does (atexit), timed here
    mark("chDB closed")
    return marks


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    parser.add_argument("--child", choices=["objects", "reads", "settings", "copy", "timeline"])
    parser.add_argument("--compression", default="none")
    parser.add_argument("--windows", type=int, default=24)
    parser.add_argument("--no-hash", action="store_true")
    parser.add_argument("rest", nargs="*")
    args = parser.parse_args()
    if args.child == "objects":
        gc.disable()
        import coldtier_assets.cli.main
        import coldtier_assets.offload.pipeline  # noqa: F401  (the modules IMPORTS times)

        print(json.dumps({"objects": len(gc.get_objects())}))
        return
    if args.child == "reads":
        print(json.dumps(child_reads(args.compression, args.windows, not args.no_hash)))
        return
    if args.child == "settings":
        print(json.dumps(child_query_settings()))
        return
    if args.child == "copy":
        print(json.dumps(child_copy()))
        return
    if args.child == "timeline":
        print(json.dumps(child_timeline(args.rest)))
        return
    print(f"machine: {platform.node()} {platform.machine()}, Python {platform.python_version()}")
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; command: {' '.join(sys.argv)}")
    home = (args.out / "breakdown").resolve()
    prepare(home, DAY_TRADES, DAY_START, DAY_END - DAY_START)
    env = _env(home)

    imports: dict[str, list[float]] = {name: [] for name in IMPORTS}
    reads: dict[str, list[dict[str, float]]] = {}
    for _ in range(args.repeats):
        for name, code in IMPORTS.items():
            imports[name].append(_timed([sys.executable, "-c", code], env))
        for compression, windows, row_hash in (
            ("lz4_frame", 24, True),
            ("none", 24, True),
            ("none", 6, True),
            ("none", 1, True),
            ("none", 24, False),
        ):
            key = f"{windows} queries, Arrow {compression}" + ("" if row_hash else ", no row hash")
            extra = ["--compression", compression, "--windows", str(windows)] + (
                [] if row_hash else ["--no-hash"]
            )
            reads.setdefault(key, []).append(run_child(__file__, "reads", extra, env))
    print("imports (whole process, s): " + ", ".join(f"{k} {_median(v)}" for k, v in imports.items()))
    print(f"objects tracked once loaded: {run_child(__file__, 'objects', [], env)['objects']:,.0f}")
    for key, runs in reads.items():
        seconds, cpu = _median([r["seconds"] for r in runs]), _median([r["cpu_s"] for r in runs])
        print(f"reads of the day, {key}: {seconds} s wall, {cpu} s CPU")
    per_query = [run_child(__file__, "settings", [], env) for _ in range(args.repeats)]
    print(
        "ms per `SELECT 1` as Arrow, the Arrow setting: "
        + ", ".join(f"{key} {_median([r[key] for r in per_query])}" for key in per_query[0])
    )

    pristine = home.with_name("breakdown_pristine")
    shutil.rmtree(pristine, ignore_errors=True)
    shutil.copytree(home, pristine, symlinks=True)  # chDB links tables to store/ relatively
    span = ["--table", "silver_trades", "--start", DAY_START.isoformat(), "--end", DAY_END.isoformat()]
    for _ in range(args.repeats):
        shutil.rmtree(home)
        shutil.copytree(pristine, home, symlinks=True)
        copy = run_child(__file__, "copy", [], env)
        print("offload core's copy of the day (s): " + ", ".join(f"{k} {v:.3f}" for k, v in copy.items()))
    for _ in range(args.repeats):
        shutil.rmtree(home)
        shutil.copytree(pristine, home, symlinks=True)
        began = time.perf_counter()
        marks = run_child(__file__, "timeline", ["--", *span], env)
        print(f"first copy, whole process {time.perf_counter() - began:.2f} s; inside: {marks}")
    shutil.rmtree(pristine, ignore_errors=True)
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
