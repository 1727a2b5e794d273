"""What every `coldtier` command module shares: the consoles and loading the settings."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from coldtier_assets.config import Settings, load_settings
from coldtier_assets.errors import ColdtierError

console = Console(width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True, soft_wrap=True)


def settings_or_exit() -> Settings:
    """The settings, or exit 2 with a message naming the wrong variable."""
    try:
        return load_settings()
    except ColdtierError as error:
        errors.print(f"[red]configuration error:[/red] {error}")
        raise typer.Exit(2) from None
