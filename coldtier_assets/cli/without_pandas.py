"""Run ``coldtier offload`` without loading pandas, which nothing on its path uses.

pyarrow asks whether pandas is installed the first time it converts Python values, which loading
``pyarrow.dataset`` (through pyiceberg) does: that question imports pandas, and with it much of
numpy, dateutil and pytz. Loading the command line and the offload modules takes 0.97 s with it and
0.82 s without (``benchmarks/day_breakdown.py``, "imports"). The offload reads Arrow from ClickHouse and writes Arrow to
Parquet; no pandas object ever exists in it. With pandas refused, pyarrow records it as absent and
skips its pandas adapters, which only matter for pandas objects.

Only commands whose whole path is known not to need pandas refuse it
(``coldtier_assets_tests/integration/test_offload_without_pandas.py`` runs a real offload so). A module that later
imports pandas on such a path gets an ``ImportError`` that names this module, never a silent
change.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

PANDAS = "pandas"

#: The commands that run without pandas.
COMMANDS_WITHOUT_PANDAS = frozenset({"offload"})


class PandasRefused:
    """A module finder that makes ``import pandas`` (and its submodules) fail with a clear error."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        """Refuse pandas; leave every other module to the usual finders."""
        if fullname == PANDAS or fullname.startswith(PANDAS + "."):
            raise ImportError(
                f"{fullname} is not loaded by this coldtier command (coldtier_assets/cli/without_pandas.py)",
                name=fullname,
            )
        return None


def command_name(arguments: Sequence[str]) -> str | None:
    """The command a ``coldtier`` command line runs: its first argument that is not an option."""
    return next((argument for argument in arguments if not argument.startswith("-")), None)


def refuse_pandas_for(arguments: Sequence[str]) -> bool:
    """Refuse pandas in this process when the command line runs one of :data:`COMMANDS_WITHOUT_PANDAS`.

    Returns whether it did; a no-op when pandas is already loaded.
    """
    if command_name(arguments) not in COMMANDS_WITHOUT_PANDAS or PANDAS in sys.modules:
        return False
    if not any(isinstance(finder, PandasRefused) for finder in sys.meta_path):
        sys.meta_path.insert(0, PandasRefused())
    return True
