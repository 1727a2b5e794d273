"""`coldtier offload` starts fast: its import path does not load Dagster (≈0.7 s of start-up)."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

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


GC_PROBE = """
import gc
from coldtier_assets.cli.entry import load_app
collections = []
gc.callbacks.append(lambda phase, info: collections.append(phase))
load_app()
print(gc.isenabled(), len(collections))
"""


def test_the_command_line_loads_without_garbage_collections_and_resumes_them() -> None:
    result = subprocess.run([sys.executable, "-c", GC_PROBE], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["True", "0"]


def test_the_coldtier_executable_goes_through_the_gc_paused_entry() -> None:
    (script,) = entry_points(group="console_scripts", name="coldtier")
    assert script.value == "coldtier_assets.cli.entry:main"
