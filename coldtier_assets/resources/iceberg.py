"""The Iceberg catalog: pyiceberg's ``SqlCatalog`` on SQLite (embedded) or PostgreSQL (production).

The warehouse is a local directory or an ``s3://bucket/prefix`` (pyiceberg's PyArrowFileIO, with
the endpoint, region and credentials of :class:`~coldtier_assets.config.S3Settings`; path-style
addressing when an endpoint is set). Opening the catalog over S3 first probes the prefix, so a
missing bucket or refused credentials fail at once with one typed error.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from pyarrow.fs import FileType, S3FileSystem
from pyiceberg.catalog.sql import SqlCatalog

from coldtier_assets.config import S3Settings, Settings
from coldtier_assets.errors import (
    ColdtierError,
    WarehouseAccessDeniedError,
    WarehouseBucketMissingError,
    WarehouseError,
)
from coldtier_assets.redact import redact, redact_url
from coldtier_assets.resources.metadata_cache import CachingSqlCatalog


class CatalogUnavailableError(ColdtierError):
    """The catalog database cannot be reached or initialised."""


def sqlalchemy_uri(uri: str) -> str:
    """The SQLAlchemy URI for a catalog URI (``postgresql://`` uses the psycopg2 driver)."""
    if uri.startswith("postgresql://") or uri.startswith("postgres://"):
        return "postgresql+psycopg2://" + uri.split("://", 1)[1]
    return uri


#: (warehouse, endpoint, key id, secret) of the S3 warehouses this process has probed successfully.
_PROBED: set[tuple[str, str | None, str | None, str | None]] = set()


def fileio_properties(settings: Settings) -> dict[str, str]:
    """The pyiceberg catalog/FileIO properties for the warehouse (none for local disk)."""
    if not settings.warehouse_on_s3:
        return {}
    s3 = settings.s3
    properties = {"py-io-impl": "pyiceberg.io.pyarrow.PyArrowFileIO", "s3.region": s3.region}
    if s3.endpoint:
        properties |= {"s3.endpoint": s3.endpoint, "s3.force-virtual-addressing": "false"}
    if s3.access_key_id and s3.secret_access_key:
        properties |= {"s3.access-key-id": s3.access_key_id, "s3.secret-access-key": s3.secret_access_key}
        if s3.session_token:
            properties["s3.session-token"] = s3.session_token
    return properties


def s3_file_system(s3: S3Settings) -> S3FileSystem:
    """A pyarrow S3 file system configured like pyiceberg's FileIO (paths are ``bucket/key``)."""
    endpoint = urlparse(s3.endpoint) if s3.endpoint else None
    return S3FileSystem(
        access_key=s3.access_key_id if s3.secret_access_key else None,
        secret_key=s3.secret_access_key if s3.access_key_id else None,
        session_token=s3.session_token,
        region=s3.region,
        endpoint_override=endpoint.netloc if endpoint else None,
        scheme=endpoint.scheme if endpoint else "https",
        force_virtual_addressing=False,
    )


def _warehouse_problem(error: OSError, bucket: str) -> WarehouseError:
    text = str(error)
    if "NO_SUCH_BUCKET" in text or "NoSuchBucket" in text:
        return WarehouseBucketMissingError(
            f"S3 bucket {bucket!r} does not exist (create it; coldtier does not)"
        )
    if any(
        code in text
        for code in ("ACCESS_DENIED", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch")
    ):
        return WarehouseAccessDeniedError(
            f"S3 refused access to bucket {bucket!r}: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY "
            f"and the permissions on the prefix ({redact(text)})"
        )
    return WarehouseError(redact(f"cannot reach the S3 warehouse in bucket {bucket!r}: {text}"))


def check_warehouse(settings: Settings) -> None:
    """Probe an ``s3://`` warehouse: raise a :class:`WarehouseError` subclass unless the prefix can be read.

    Lists at most one key under the prefix (allowed by a prefix-scoped policy); when nothing is
    there, the bucket itself is looked up, so a missing bucket is told apart from an empty prefix.
    A warehouse that passed is not probed again by the same process (catalogs are opened per commit).
    """
    probe = (
        settings.warehouse,
        settings.s3.endpoint,
        settings.s3.access_key_id,
        settings.s3.secret_access_key,
    )
    if not settings.warehouse_on_s3 or probe in _PROBED:
        return
    parsed = urlparse(settings.warehouse)
    bucket, prefix = parsed.netloc, parsed.path.strip("/")
    fs = s3_file_system(settings.s3)
    try:
        found = fs.get_file_info(f"{bucket}/{prefix}" if prefix else bucket).type != FileType.NotFound
        if not found and fs.get_file_info(bucket).type == FileType.NotFound:
            raise WarehouseBucketMissingError(
                f"S3 bucket {bucket!r} does not exist (create it; coldtier does not)"
            )
    except OSError as error:
        raise _warehouse_problem(error, bucket) from error
    _PROBED.add(probe)


def open_catalog(settings: Settings) -> SqlCatalog:
    """Open (and on first use initialise) the SQL catalog configured by the settings."""
    if settings.catalog_uri.startswith("sqlite:"):
        Path(urlparse(settings.catalog_uri).path).parent.mkdir(parents=True, exist_ok=True)
    if settings.warehouse.startswith("file:"):
        Path(urlparse(settings.warehouse).path).mkdir(parents=True, exist_ok=True)
    check_warehouse(settings)
    try:
        return CachingSqlCatalog(
            settings.catalog_name,
            uri=sqlalchemy_uri(settings.catalog_uri),
            warehouse=settings.warehouse,
            **fileio_properties(settings),
        )
    except Exception as error:
        raise CatalogUnavailableError(
            redact(f"cannot open Iceberg catalog {redact_url(settings.catalog_uri)}: {error}")
        ) from error
