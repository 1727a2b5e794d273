"""A 3-minute fault-injection soak of the real stack finds no anomaly (issue #12).

Runs ``benchmarks/soak.py`` as a user would: PostgreSQL for the catalog and Dagster, the real
webserver and daemon, the live feed, seeded faults (process kills, PostgreSQL and warm-tier
outages, a full warehouse, maintenance and a foreign writer racing the offloads, a late trade),
then an independent verification of every closed window. Asserts correctness only, never timing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from coldtier_assets_tests.postgres_server import postgres_available

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(1200),
    pytest.mark.skipif(not postgres_available(), reason="PostgreSQL server binaries are not installed"),
]
REPO = Path(__file__).resolve().parents[2]


def test_three_minutes_of_faults_lose_nothing(tmp_path: Path) -> None:
    report_path = tmp_path / "soak.json"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    command = [sys.executable, str(REPO / "benchmarks" / "soak.py"), "--minutes", "3", "--seed", "12"]
    result = subprocess.run(
        [
            *command,
            "--report",
            str(report_path),
            "--workdir",
            str(tmp_path / "work"),
            "--settle-timeout",
            "420",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert report_path.exists(), result.stdout[-3000:] + result.stderr[-5000:]
    report = json.loads(report_path.read_text())
    assert report["anomalies_total"] == 0, json.dumps(report["anomaly_details"], indent=1)[:5000]
    assert result.returncode == 0, result.stderr[-3000:]
    # the run did what it claims: faults of several kinds, every table's windows and rows compared
    injected = {kind for kind, count in report["faults_injected"].items() if count}
    assert len(injected) >= 4, report["fault_log"]
    assert report["windows_verified"] > 0 and report["rows_verified"] > 0
    assert report["per_table"]["silver_trades"]["rows"] > 0 and report["gold_candles_recomputed"] > 0
    assert report["files_checked"] > 0
