"""The ``coldtier`` command line: every command, registered in one place.

Commands live in their modules (tiering, local, maintenance, monitoring) as plain functions;
rendering is in :mod:`~coldtier_assets.cli.output`; failures become one line through
:class:`~coldtier_assets.cli.failures.ColdtierGroup`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Annotated, Any

import typer

from coldtier_assets.cli.failures import ColdtierGroup
from coldtier_assets.cli.local import demo, dev
from coldtier_assets.cli.maintenance import maintain, retention
from coldtier_assets.cli.monitoring import exporter, query
from coldtier_assets.cli.tiering import config, init, offload, simulate, status, verify

app = typer.Typer(
    cls=ColdtierGroup,
    help="coldtier: tier crypto trades from ClickHouse (warm) into Iceberg (cold), exactly once.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

#: Every `coldtier` command, in the order `coldtier --help` lists them.
COMMANDS: tuple[Callable[..., Any], ...] = (
    init,
    simulate,
    offload,
    status,
    verify,
    query,
    demo,
    dev,
    config,
    maintain,
    retention,
    exporter,
)


@app.callback()
def options(
    debug: Annotated[
        bool, typer.Option("--debug", envvar="COLDTIER_DEBUG", help="show the traceback of a failure")
    ] = False,
) -> None:
    """coldtier: tier crypto trades from ClickHouse (warm) into Iceberg (cold), exactly once."""
    if debug:
        os.environ["COLDTIER_DEBUG"] = "1"


for _command in COMMANDS:
    app.command()(_command)

if __name__ == "__main__":
    app()
