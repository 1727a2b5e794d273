"""Embedded warm-tier start-up as merges accumulate: with and without the tables' cleanup settings.

Two embedded warm tiers side by side, both created by ``init``: in the second the MergeTree settings
of ``ddl/clickhouse`` (``cleanup_delay_period = 1``, ``cleanup_delay_period_random_add = 0``) are
reset to ClickHouse's defaults. Each then gets ``--rounds`` short sessions, as commands give it: an
insert of ``--rows`` Silver rows and a merge (``OPTIMIZE``), so every round leaves the parts the
merge replaced. Then one session is held ``--hold`` seconds, as a Dagster run holds it (ClickHouse
removes outdated parts only while it runs, and by default not before 30-40 s after start-up).
Afterwards the outdated parts are counted and one start-up (connection open plus a trivial query)
is timed ``--repeats`` times; the CPU time is this process's (chDB runs in process).

Usage: .venv/bin/python benchmarks/warm_startup.py [--rounds 300] [--rows 2000] [--hold 5]
       [--repeats 5] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from coldtier_assets.offload.bootstrap import init_warm
from coldtier_assets.resources.clickhouse import WarmTier

DEFAULTS = "cleanup_delay_period, cleanup_delay_period_random_add"


def _tier(path: Path, defaults: bool) -> WarmTier:
    shutil.rmtree(path, ignore_errors=True)
    warm = WarmTier(f"chdb://{path}", linger_seconds=0)
    init_warm(warm)
    if defaults:
        with warm.session() as client:
            client.command(f"ALTER TABLE silver_trades RESET SETTING {DEFAULTS}")
    warm.close()
    return warm


def _round(warm: WarmTier, number: int, rows: int) -> None:
    with warm.session() as client:
        client.command(
            "INSERT INTO silver_trades SELECT 'binance', 'BTC/USDT', number, 1, 2, 2, 'buy', "
            "toDateTime64('2026-01-01 00:00:00', 6, 'UTC') + number, now64(6, 'UTC') "
            f"FROM numbers({number * rows}, {rows})"
        )
        client.command("OPTIMIZE TABLE silver_trades")
    warm.close()


def _start_up(warm: WarmTier) -> tuple[float, float]:
    began, cpu = time.perf_counter(), time.process_time()
    with warm.session() as client:
        client.query("SELECT 1")
    figures = time.perf_counter() - began, time.process_time() - cpu
    warm.close()
    return figures


def _hold(warm: WarmTier, seconds: float) -> None:
    with warm.session():
        time.sleep(seconds)
    warm.close()


def _parts(warm: WarmTier) -> tuple[int, int]:
    with warm.session():
        warm.rows("SYSTEM WAIT LOADING PARTS silver_trades")
        rows = warm.rows(
            "SELECT countIf(active), countIf(NOT active) FROM system.parts WHERE table = 'silver_trades'"
        )
    warm.close()
    return int(str(rows[0][0])), int(str(rows[0][1]))


def measure(
    path: Path, defaults: bool, rounds: int, rows: int, hold: float, repeats: int
) -> dict[str, object]:
    """Build one warm tier, give it ``rounds`` insert-and-merge sessions and one long one, time its start-up."""
    warm = _tier(path, defaults)
    fresh = [_start_up(warm) for _ in range(repeats)]
    for number in range(rounds):
        _round(warm, number, rows)
    _hold(warm, hold)
    active, outdated = _parts(warm)
    aged = [_start_up(warm) for _ in range(repeats)]
    return {
        "settings": "ClickHouse defaults" if defaults else "ddl/clickhouse",
        "active_parts": active,
        "outdated_parts": outdated,
        "start_up_s_fresh": round(statistics.median(t for t, _ in fresh), 3),
        "start_up_cpu_s_fresh": round(statistics.median(c for _, c in fresh), 3),
        "start_up_s_after": round(statistics.median(t for t, _ in aged), 3),
        "start_up_cpu_s_after": round(statistics.median(c for _, c in aged), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--hold", type=float, default=5.0, help="seconds of the one long session")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    args = parser.parse_args()
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores")
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; rounds {args.rounds}, rows {args.rows}", flush=True)
    for defaults in (False, True):
        path = (args.out / ("warm_defaults" if defaults else "warm_settings")).resolve()
        print(
            json.dumps(measure(path, defaults, args.rounds, args.rows, args.hold, args.repeats)), flush=True
        )


if __name__ == "__main__":
    main()
