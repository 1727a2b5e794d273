"""The candle check's cold query, reading all of cold Silver against reading its window's Silver.

``candles_match_silver`` re-derives a Gold window's candles from cold Silver with the Gold view's SQL.
Applied to the whole table, ClickHouse aggregates every candle of every day before the window filter
keeps the window's ones; restricted to the window's Silver (``quality.silver_span_sql``), it reads
one window. This builds history day by day (simulated trades, copied by the offload core); at each
of ``--days`` days of history it times both forms of the derived-candles query for the last window
of each Gold table, in the cold query worker the checks use, ``--repeats`` times each (medians),
and checks that both give the same (rows, checksum).

Usage: PYTHONPATH=$PWD .venv/bin/python benchmarks/candle_check.py [--days 1 6] [--rate 5] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from coldtier_assets.config import Settings
    from coldtier_assets.resources.clickhouse import WarmTier
    from coldtier_assets.tables import TableSpec

START = datetime(2026, 11, 1, tzinfo=UTC)


def _time_candle_queries(
    settings: Settings, warm: WarmTier, golds: list[TableSpec], end: datetime, repeats: int
) -> None:
    """Time both forms of the derived-candles query for each Gold table's window ending at ``end``."""
    from coldtier_assets.offload.cold_engine import cold_rows, committed_table_function
    from coldtier_assets.offload.quality import candle_sqls, derived_candles_sql
    from coldtier_assets.offload.verify import checksum_query
    from coldtier_assets.offload.windows import Window
    from coldtier_assets.resources.iceberg import open_catalog

    catalog = open_catalog(settings)
    silver = catalog.load_table((settings.namespace, "silver_trades"))
    for gold in golds:
        length = gold.window(settings.window)
        windows = [Window(end - length, end)]
        windowed, _, _ = candle_sqls(settings, catalog, gold, windows)
        schema = catalog.load_table((settings.namespace, gold.name)).schema()
        whole_table = f"({derived_candles_sql(gold, committed_table_function(silver))})"
        unrestricted, _ = checksum_query(schema, gold, whole_table, windows)
        times: dict[str, list[float]] = {"all of Silver": [], "the window's Silver": []}
        answers = {}
        for _ in range(repeats):
            for name, sql in (("all of Silver", unrestricted), ("the window's Silver", windowed)):
                began = time.perf_counter()
                answers[name] = cold_rows(settings, warm, sql)
                times[name].append(time.perf_counter() - began)
        assert answers["all of Silver"] == answers["the window's Silver"], (gold.name, answers)
        print(
            f"  {gold.name} (window {length}): "
            + ", ".join(f"{name} {statistics.median(values):.3f} s" for name, values in times.items())
            + f"; same (rows, checksum): {answers['all of Silver']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, nargs="+", default=[1, 6])
    parser.add_argument("--rate", type=float, default=5.0, help="simulated trades per second")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    args = parser.parse_args()
    home = (args.out / "candle_check").resolve()
    shutil.rmtree(home, ignore_errors=True)
    os.environ.update({"COLDTIER_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home")})

    from coldtier_assets.config import load_settings
    from coldtier_assets.offload.bootstrap import init_all
    from coldtier_assets.offload.pipeline import Offloader
    from coldtier_assets.resources.clickhouse import WarmTier
    from coldtier_assets.resources.iceberg import open_catalog
    from coldtier_assets.simulate.feed import simulate_history
    from coldtier_assets.tables import TABLES, get_table

    print(f"machine: {platform.node()} {platform.machine()}, Python {platform.python_version()}")
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; days {args.days}, {args.rate} trades/s")
    settings = load_settings()
    warm = WarmTier(settings.warm_dsn)
    init_all(warm, open_catalog(settings), settings.namespace)
    offloader = Offloader(settings, warm, lambda: open_catalog(settings))
    golds = [spec for spec in TABLES if spec.layer == "gold"]
    built, trades = START, 0
    for days in sorted(args.days):
        end = START + timedelta(days=days)
        trades += simulate_history(warm, built, end, seed=days, trades_per_second=args.rate).total
        for spec in [get_table("silver_trades"), *golds]:
            offloader.offload(spec, built, end)
        built = end
        print(f"{days} day(s) of history: {trades:,} trades in cold Silver")
        _time_candle_queries(settings, warm, golds, end, args.repeats)
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
