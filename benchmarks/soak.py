"""Fault-injection soak of the real stack (issue #12).

Usage: .venv/bin/python benchmarks/soak.py --minutes 30 --seed 1 --report soak-report.json

Starts PostgreSQL (catalog + Dagster storage), the Dagster webserver and daemon with 1-minute
windows, and the live trade feed; injects seeded random faults for ``--minutes``; lets the sensors
settle; verifies every closed window of every table independently; writes the JSON report and
prints its Markdown line for benchmarks/RESULTS.md. Exits 1 when it found any anomaly.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.soak_harness.harness import SoakOptions, run_soak
from benchmarks.soak_harness.report import results_row, write_report


def main() -> int:
    """Parse the command line, run the soak, write the report; 1 when anomalies were found."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--minutes", type=float, default=30.0, help="length of the live phase (feed + faults)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the fault schedule and the feed")
    parser.add_argument("--report", type=Path, default=Path("soak-report.json"), help="JSON report path")
    parser.add_argument("--rate", type=float, default=5.0, help="feed rate, trades per second")
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=600.0,
        help="seconds to wait for the sensors after the feed stops",
    )
    parser.add_argument(
        "--spark-maintenance",
        action="store_true",
        help="run maintenance with COLDTIER_MAINTENANCE_ENGINE=spark",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep all state and logs here (default: a temporary directory, removed)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("soak").setLevel(logging.INFO)
    out = args.workdir.resolve() if args.workdir else Path(tempfile.mkdtemp(prefix="coldtier-soak-"))
    options = SoakOptions(
        minutes=args.minutes,
        seed=args.seed,
        out=out,
        rate=args.rate,
        settle_timeout=args.settle_timeout,
        spark_maintenance=args.spark_maintenance,
        keep=args.workdir is not None,
        command=" ".join(sys.argv),
    )
    report = run_soak(options)
    write_report(report, args.report)
    print(
        json.dumps(
            {
                k: report[k]
                for k in ("minutes", "faults_injected", "windows_verified", "rows_verified", "anomalies")
            },
            indent=2,
        )
    )
    print(results_row(report, datetime.now(UTC).strftime("%Y-%m-%d %H:%M")))
    return 1 if report["anomalies_total"] else 0


if __name__ == "__main__":
    sys.exit(main())
