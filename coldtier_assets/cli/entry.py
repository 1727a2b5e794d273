"""The ``coldtier`` executable: loads the command line with the garbage collector paused.

Loading pyiceberg, SQLAlchemy, pyarrow and pandas creates a few hundred thousand objects that live
as long as the process. The collector's passes over them while they load free nothing and cost
about 0.4 s of a command's 1.3 s start-up (``benchmarks/day_breakdown.py``). So the collector is
paused while they load, and they are then moved out of its sight (``gc.freeze``) before it resumes:
it would otherwise scan them all at the first allocation, and again at every full collection of a
long-running command.

``coldtier offload`` also runs without pandas, which nothing on its path uses
(:mod:`~coldtier_assets.cli.without_pandas`).
"""

from __future__ import annotations

import gc
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer


def load_app() -> typer.Typer:
    """The ``coldtier`` Typer app, imported with the garbage collector paused, its modules frozen."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        from coldtier_assets.cli.main import app
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
    return app


def main() -> None:
    """Run the ``coldtier`` command line."""
    from coldtier_assets.cli.without_pandas import refuse_pandas_for

    refuse_pandas_for(sys.argv[1:])
    load_app()()
