"""`coldtier offload` starts fast: its import path loads neither Dagster (≈0.7 s) nor pandas (≈0.2 s)."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

from coldtier_assets.cli.without_pandas import command_name

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


WITHOUT_PANDAS_PROBE = """
import sys
from coldtier_assets.cli.without_pandas import refuse_pandas_for
print(refuse_pandas_for(sys.argv[1:]))
from coldtier_assets.cli.entry import load_app
load_app()
import pyarrow as pa
import coldtier_assets.offload.pipeline
pa.array([1, None]); pa.scalar(1.5)
print("pandas" in sys.modules)
try:
    import pandas
    print("imported")
except ImportError as refused:
    print(refused)
"""


def _without_pandas_probe(*arguments: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_PANDAS_PROBE, *arguments], capture_output=True, text=True, check=True
    )
    return result.stdout.splitlines()


def test_the_offload_command_loads_its_path_without_pandas_and_says_so_to_an_importer() -> None:
    refused, loaded, importing = _without_pandas_probe("--debug", "offload", "--table", "silver_trades")
    assert (refused, loaded) == ("True", "False")
    assert "pandas is not loaded by this coldtier command" in importing
    assert "cli/without_pandas.py" in importing


def test_other_commands_keep_pandas() -> None:
    refused, _, importing = _without_pandas_probe("status")
    assert (refused, importing) == ("False", "imported")


def test_the_command_is_the_first_argument_that_is_not_an_option() -> None:
    assert command_name(["--debug", "offload", "--table", "t"]) == "offload"
    assert command_name(["--help"]) is None
