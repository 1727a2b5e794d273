"""Benchmark: trades per second the simulated feed generates and writes into embedded chDB.

Usage::

    .venv/bin/python benchmarks/simulate_rate.py                 # the default scenarios
    .venv/bin/python benchmarks/simulate_rate.py --hours 2 --trades-per-second 150

Every scenario writes into a fresh chDB directory (``init_warm`` first) and reports the distinct trades,
the rows written (trades + resends), wall time and trades/s for generation alone and generation+write.
Trade time starts 2025-01-06 08:00 UTC, seed 7, 300-second batches.

Recorded on the 2-core dev VM, another test suite running concurrently (so +-30 %); rates in trades/s:

    scenario               trades      generate only   generate + write
    2 h at 150 trades/s    1,239,477   2.1-2.3 M/s     2.7-3.9 s   = 0.32-0.46 M/s
    10 h at 150 trades/s   6,602,529   3.4-3.5 M/s     16.8-19.1 s = 0.35-0.39 M/s
    1 h at 1500 trades/s   4,855,211   3.5-3.6 M/s     7.2-7.8 s   = 0.63-0.67 M/s
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from coldtier_assets.offload.bootstrap import init_warm
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.simulate import generate_history, simulate_history


@dataclass(frozen=True)
class Scenario:
    name: str
    hours: float
    trades_per_second: float
    batch_seconds: int = 300


DEFAULT_SCENARIOS = (
    Scenario("2 h at 150 trades/s", hours=2.0, trades_per_second=150.0),
    Scenario("10 h at 150 trades/s", hours=10.0, trades_per_second=150.0),
    Scenario("1 h at 1500 trades/s", hours=1.0, trades_per_second=1500.0),
)
START = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)


def generation_only(scenario: Scenario, seed: int) -> tuple[int, float]:
    began = time.perf_counter()
    rows = 0
    for batch in generate_history(
        START,
        START + timedelta(hours=scenario.hours),
        seed=seed,
        trades_per_second=scenario.trades_per_second,
        batch_seconds=scenario.batch_seconds,
    ):
        rows += sum(batch.trades.values())
    return rows, time.perf_counter() - began


def run(scenario: Scenario, seed: int, workdir: Path) -> None:
    generated, generation_seconds = generation_only(scenario, seed)
    path = workdir / scenario.name.replace(" ", "_").replace("/", "_")
    warm = WarmTier(f"chdb://{path}/warm")
    init_warm(warm)
    report = simulate_history(
        warm,
        START,
        START + timedelta(hours=scenario.hours),
        seed=seed,
        trades_per_second=scenario.trades_per_second,
        batch_seconds=scenario.batch_seconds,
    )
    # Background merges may already have collapsed some resends, so compare the collapsed counts.
    bronze = sum(
        int(str(warm.rows(f"SELECT count() FROM bronze_trades_{name} FINAL")[0][0])) for name in report.trades
    )
    silver = int(str(warm.rows("SELECT count() FROM silver_trades FINAL")[0][0]))
    assert bronze == silver == report.total, (bronze, silver, report.total)
    print(
        f"{scenario.name:<30} trades {report.total:>10,}  rows {report.rows_written:>10,}  "
        f"batches {report.batches:>4}  generate {generated / generation_seconds:>12,.0f} trades/s  "
        f"generate+write {report.elapsed_seconds:6.2f} s = {report.trades_per_second:>10,.0f} trades/s"
    )
    shutil.rmtree(path, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="Trades per second the simulated feed generates and writes.")
    parser.add_argument("--hours", type=float, help="one scenario of this many hours of trade time")
    parser.add_argument("--trades-per-second", type=float, default=150.0)
    parser.add_argument("--batch-seconds", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    scenarios = DEFAULT_SCENARIOS
    if args.hours is not None:
        name = f"{args.hours:g} h at {args.trades_per_second:g} trades/s"
        scenarios = (Scenario(name, args.hours, args.trades_per_second, args.batch_seconds),)
    with tempfile.TemporaryDirectory(prefix="coldtier-simulate-") as workdir:
        for scenario in scenarios:
            run(scenario, args.seed, Path(workdir))


if __name__ == "__main__":
    main()
