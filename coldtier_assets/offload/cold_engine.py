"""ClickHouse over the cold tier: run SQL that reads Iceberg tables with ClickHouse's table functions.

* Embedded (chDB): chDB only reads local files below its working directory, so cold queries run in
  a short-lived child process with its own in-memory chDB started in ``/`` — independent of the
  warm tier's engine and its lock. Warm tables are not visible there.
* Server (HTTP): the query runs on the ClickHouse server, which reads the warehouse itself
  (``icebergS3`` for ``s3://`` warehouses, ``icebergLocal`` for a path on the server).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from urllib.parse import urlparse

from coldtier_assets.config import Settings
from coldtier_assets.errors import ColdtierError
from coldtier_assets.resources.clickhouse import WarmTier

_CHILD = """
import json, sys
import chdb
connection = chdb.connect(":memory:")
print(json.dumps([json.loads(connection.query(sql, "JSONCompact").data())["data"] for sql in json.loads(sys.argv[1])]))
"""


class ColdQueryError(ColdtierError):
    """ClickHouse could not read the cold tier (missing metadata, unreachable object store…)."""


def iceberg_table_function(location: str) -> str:
    """The ClickHouse table function that reads the Iceberg table at ``location``."""
    parsed = urlparse(location)
    if parsed.scheme in ("", "file"):
        return f"icebergLocal('{parsed.path}')"
    if parsed.scheme in ("s3", "s3a"):
        endpoint = os.environ.get("COLDTIER_S3_ENDPOINT", "https://s3.amazonaws.com").rstrip("/")
        url = f"{endpoint}/{parsed.netloc}{parsed.path}"
        key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
        return f"icebergS3('{url}', '{key}', '{secret}')" if key and secret else f"icebergS3('{url}')"
    raise ColdQueryError(f"ClickHouse cannot read a warehouse at {location!r} (file:// or s3:// only)")


def cold_rows_batch(settings: Settings, warm: WarmTier, sqls: list[str]) -> list[list[list[object]]]:
    """Run several queries over cold tables (one child process in embedded mode); rows of each."""
    if not sqls:
        return []
    if not settings.warm_is_embedded:
        return [[list(row) for row in warm.rows(sql)] for sql in sqls]
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(sqls)],
        cwd="/",
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if result.returncode != 0:
        message = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "no output"
        raise ColdQueryError(f"cold-tier query failed: {message}")
    return json.loads(result.stdout)


def cold_rows(settings: Settings, warm: WarmTier, sql: str) -> list[list[object]]:
    """Run ``sql`` (which reads cold tables through :func:`iceberg_table_function`) and return its rows."""
    return cold_rows_batch(settings, warm, [sql])[0]
