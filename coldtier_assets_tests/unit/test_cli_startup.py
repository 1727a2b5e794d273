"""`coldtier offload` starts fast: its import path does not load Dagster (≈0.7 s of start-up)."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import coldtier_assets.cli.main
import coldtier_assets.cli.progress
import coldtier_assets.offload.pipeline
loaded = sorted(name for name in sys.modules if name == "dagster" or name.startswith("dagster."))
print(len(loaded), loaded[:5])
"""


def test_the_offload_command_path_does_not_import_dagster() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("0 "), result.stdout
