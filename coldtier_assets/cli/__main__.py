"""`python -m coldtier_assets.cli` runs the `coldtier` command."""

from coldtier_assets.cli.entry import main

main()
