"""`coldtier offload` copies every table without loading pandas, and the copy verifies.

The real command line in a subprocess (``python -X importtime -m coldtier_assets.cli``), on the
embedded warm tier (chDB) with a simulated hour, every table over its day: its import log must not show pandas' modules
loaded (a refused attempt is logged too, so the test looks for ``pandas.core``), and
``coldtier verify`` then finds every window equal in both tiers. A module on the offload path that
needed pandas would fail this command with the ``ImportError`` of ``cli/without_pandas.py``.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

from coldtier_assets_tests.cli_runner import cli_env, run_cli
from coldtier_assets_tests.fixtures import DAY

START = DAY + timedelta(hours=9)
HOUR = ["--start", START.isoformat(), "--end", (START + timedelta(hours=1)).isoformat()]
SPAN = ["--start", DAY.isoformat(), "--end", (DAY + timedelta(days=1)).isoformat()]  # whole 1-day windows too


def test_coldtier_offload_copies_every_table_without_loading_pandas(coldtier_env: dict[str, str]) -> None:
    assert run_cli(["init"], coldtier_env).returncode == 0
    simulated = run_cli(["simulate", *HOUR, "--rate", "10"], coldtier_env)
    assert simulated.returncode == 0, simulated.stderr

    offload = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "coldtier_assets.cli", "offload", *SPAN],
        env=cli_env(coldtier_env),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert offload.returncode == 0, offload.stderr[-3000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in offload.stderr.splitlines() if "|" in line]
    assert "pyarrow.dataset" in imported  # the log is the command's whole import log
    assert not [name for name in imported if name.startswith("pandas.")], "pandas was loaded"
    verified = run_cli(["verify", "--since", SPAN[1], "--until", SPAN[3]], coldtier_env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "mismatch" not in verified.stdout.lower()
    assert "✓ silver_trades: 96 match" in verified.stdout, verified.stdout
