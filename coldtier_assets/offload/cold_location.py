"""Where ClickHouse finds a cold table: ``icebergLocal`` on local disk, ``icebergS3`` in object storage.

Every ClickHouse read of the cold tier (checks, ``verify``, the maintenance audit, federated
queries) builds its table function here, from the table's location and the S3 settings
(``COLDTIER_S3_ENDPOINT``, ``AWS_*``):

* ``file:///dir/t`` → ``icebergLocal('/dir/t')``;
* ``s3://bucket/prefix/t`` with an endpoint → ``icebergS3('<endpoint>/bucket/prefix/t', key, secret)``
  (path-style, as for MinIO, moto or Ceph); without an endpoint → AWS's virtual-hosted URL
  ``https://bucket.s3.<region>.amazonaws.com/prefix/t``.

Without credentials ClickHouse uses its own (the server's configuration or the environment). The
SQL carries the secret, so every text coldtier shows is passed through
:func:`~coldtier_assets.redact.redact`, which masks the ``AWS_SECRET_ACCESS_KEY`` value.
"""

from __future__ import annotations

from urllib.parse import urlparse

from coldtier_assets.config import S3Settings, load_s3_settings
from coldtier_assets.errors import ColdtierError

OBJECT_STORE_SCHEMES = ("s3", "s3a", "s3n")


class ColdLocationError(ColdtierError):
    """ClickHouse cannot read a cold table stored at this location (only file:// and s3:// are supported)."""


def sql_string(value: str) -> str:
    """``value`` as a ClickHouse single-quoted string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def on_object_store(location: str) -> bool:
    """True when ``location`` is in S3-compatible object storage (``s3://``, ``s3a://``, ``s3n://``)."""
    return urlparse(location).scheme in OBJECT_STORE_SCHEMES


def store_scheme(scheme: str) -> str:
    """One name per store: ``s3a``/``s3n`` (Hadoop's spellings) are ``s3``, no scheme is ``file``."""
    return "s3" if scheme in OBJECT_STORE_SCHEMES else (scheme or "file")


def s3_http_url(location: str, s3: S3Settings) -> str:
    """The HTTP(S) URL of an ``s3://bucket/key`` location: path-style on an endpoint, virtual-hosted on AWS."""
    parsed = urlparse(location)
    key = parsed.path.lstrip("/")  # the object key exactly as pyiceberg wrote it
    if s3.endpoint:
        return f"{s3.endpoint}/{parsed.netloc}/{key}"
    return f"https://{parsed.netloc}.s3.{s3.region}.amazonaws.com/{key}"


def iceberg_table_function(location: str, s3: S3Settings | None = None) -> str:
    """The ClickHouse table function that reads the Iceberg table at ``location``."""
    parsed = urlparse(location)
    if parsed.scheme in ("", "file"):
        return f"icebergLocal({sql_string(parsed.path)})"
    if parsed.scheme in OBJECT_STORE_SCHEMES:
        s3 = s3 or load_s3_settings()
        arguments = [sql_string(s3_http_url(location, s3))]
        if s3.access_key_id and s3.secret_access_key:
            arguments += [sql_string(s3.access_key_id), sql_string(s3.secret_access_key)]
            if s3.session_token:
                arguments.append(sql_string(s3.session_token))
        return f"icebergS3({', '.join(arguments)})"
    raise ColdLocationError(f"ClickHouse cannot read a warehouse at {location!r} (file:// or s3:// only)")
