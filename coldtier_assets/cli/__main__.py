"""`python -m coldtier_assets.cli` runs the `coldtier` command."""

from coldtier_assets.cli.main import app

app()
