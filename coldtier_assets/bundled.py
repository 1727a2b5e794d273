"""Files that ship with the package: the DDL and the Dagster instance and workspace templates.

They are maintained at the top of the repository (``ddl/``, ``dagster.yaml``, …). A wheel carries
them inside the package as ``coldtier_assets/_bundled/`` (hatchling ``force-include``), found here
with :mod:`importlib.resources`, so an installed ``coldtier`` works from any directory; a source
checkout (editable install) reads them where they are maintained.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def bundled_path(name: str) -> Path:
    """The path of a shipped file or folder such as ``"ddl"`` or ``"dagster.yaml"``."""
    packaged = files("coldtier_assets").joinpath("_bundled", name)
    if packaged.is_file() or packaged.is_dir():
        return Path(str(packaged))
    source = _SOURCE_ROOT / name
    if not source.exists():
        raise FileNotFoundError(f"coldtier's {name} is missing from both the package and the source tree")
    return source
