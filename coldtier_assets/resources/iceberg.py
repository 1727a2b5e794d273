"""The Iceberg catalog: pyiceberg's ``SqlCatalog`` on SQLite (embedded) or PostgreSQL (production)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from pyiceberg.catalog.sql import SqlCatalog

from coldtier_assets.config import Settings
from coldtier_assets.errors import ColdtierError
from coldtier_assets.redact import redact, redact_url


class CatalogUnavailableError(ColdtierError):
    """The catalog database cannot be reached or initialised."""


def sqlalchemy_uri(uri: str) -> str:
    """The SQLAlchemy URI for a catalog URI (``postgresql://`` uses the psycopg2 driver)."""
    if uri.startswith("postgresql://") or uri.startswith("postgres://"):
        return "postgresql+psycopg2://" + uri.split("://", 1)[1]
    return uri


def open_catalog(settings: Settings) -> SqlCatalog:
    """Open (and on first use initialise) the SQL catalog configured by the settings."""
    if settings.catalog_uri.startswith("sqlite:"):
        Path(urlparse(settings.catalog_uri).path).parent.mkdir(parents=True, exist_ok=True)
    if settings.warehouse.startswith("file:"):
        Path(urlparse(settings.warehouse).path).mkdir(parents=True, exist_ok=True)
    try:
        return SqlCatalog(
            settings.catalog_name,
            uri=sqlalchemy_uri(settings.catalog_uri),
            warehouse=settings.warehouse,
        )
    except Exception as error:
        raise CatalogUnavailableError(
            redact(f"cannot open Iceberg catalog {redact_url(settings.catalog_uri)}: {error}")
        ) from error
