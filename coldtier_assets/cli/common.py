"""What every `coldtier` command module shares: the consoles, the settings and the warm tier."""

from __future__ import annotations

import sys

from rich.console import Console

from coldtier_assets.config import Settings, load_settings
from coldtier_assets.resources.clickhouse import WarmTier

console = Console(width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True, soft_wrap=True)


def cli_settings() -> Settings:
    """The settings; a wrong value raises ``ConfigError``, which the group reports (exit 2)."""
    return load_settings()


def warm_tier(settings: Settings) -> WarmTier:
    """The warm tier, waiting at most ``COLDTIER_WARM_LOCK_TIMEOUT_SECONDS`` for another process."""
    return WarmTier(settings.warm_dsn, lock_timeout_seconds=settings.warm_lock_timeout.total_seconds())
