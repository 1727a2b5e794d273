"""Every coldtier setting, its environment variable and its embedded default, read in one place.

Unset variables fall back to the embedded default: chDB for the warm tier, a SQLite Iceberg
catalog and a local warehouse directory, all under ``COLDTIER_HOME``. A wrong value raises
:class:`~coldtier_assets.errors.ConfigError` naming the variable, at start-up.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from urllib.parse import urlparse

from coldtier_assets.errors import ConfigError
from coldtier_assets.redact import redact_url

DEFAULT_START = "2026-01-01T00:00:00+00:00"
#: The maintenance engines: pyiceberg in the run's own process, or Spark through Iceberg's procedures.
MAINTENANCE_ENGINES = ("pyiceberg", "spark")
DEFAULT_SPARK_MASTER = "local[2]"


@cache
def settings_doc() -> tuple[tuple[str, str, str], ...]:
    """(environment variable, meaning, default) of every setting, for the README and `coldtier config`.

    Read from the bundled ``settings.toml`` when first asked (no command but ``config`` needs it).
    """
    text = resources.files("coldtier_assets").joinpath("settings.toml").read_text(encoding="utf-8")
    return tuple((s["variable"], s["meaning"], s["default"]) for s in tomllib.loads(text)["setting"])


@dataclass(frozen=True)
class S3Settings:
    """How to reach an ``s3://`` warehouse: endpoint (``None``: AWS), region and credentials.

    The secret and the session token are left out of ``repr``; unset credentials mean the AWS
    default chain (instance profile, ``~/.aws``) of each engine.
    """

    endpoint: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)


def _check_endpoint(raw: str | None) -> str | None:
    if not raw:
        return None
    parsed = urlparse(raw)
    if parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.path.strip("/"):
        raise ConfigError(
            f"COLDTIER_S3_ENDPOINT must be http(s)://host[:port] without a path, got {redact_url(raw)!r}"
        )
    return raw.rstrip("/")


def load_s3_settings(env: Mapping[str, str] | None = None) -> S3Settings:
    """The S3 settings from ``COLDTIER_S3_ENDPOINT`` and the standard ``AWS_*`` variables."""
    env = os.environ if env is None else env
    return S3Settings(
        endpoint=_check_endpoint(env.get("COLDTIER_S3_ENDPOINT")),
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
        secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
        session_token=env.get("AWS_SESSION_TOKEN") or None,
    )


@dataclass(frozen=True)
class Settings:
    """The resolved configuration of one coldtier process."""

    home: Path
    warm_dsn: str
    catalog_uri: str
    catalog_name: str
    namespace: str
    warehouse: str
    window_minutes: int
    allowed_lateness: timedelta
    start: datetime
    read_slice_rows: int
    dagster_home: Path
    first_copy_lookback: timedelta = timedelta(hours=24)
    heal_lookback: timedelta = timedelta(hours=6)
    dagster_pg_url: str | None = None
    warm_lock_timeout: timedelta = timedelta(seconds=900)
    maintenance_engine: str = "pyiceberg"
    spark_master: str = DEFAULT_SPARK_MASTER
    spark_conf: Mapping[str, str] = field(default_factory=dict)
    s3: S3Settings = field(default_factory=S3Settings)
    max_concurrent_runs: int = 2
    max_runs_per_table: int = 4
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def warm_is_embedded(self) -> bool:
        """True when the warm tier is the in-process chDB engine."""
        return self.warm_dsn.startswith("chdb:")

    @property
    def warehouse_on_s3(self) -> bool:
        """True when the cold tier lives in S3-compatible object storage (``s3://bucket/prefix``)."""
        return urlparse(self.warehouse).scheme in ("s3", "s3a")

    @property
    def window(self) -> timedelta:
        """The base window length (Bronze, Silver and the short Gold candles)."""
        return timedelta(minutes=self.window_minutes)


def _positive_int(env: Mapping[str, str], name: str, default: int, *, allow_zero: bool = False) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {raw!r}")
    return value


def _parse_start(raw: str) -> datetime:
    try:
        start = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"COLDTIER_START must be an ISO 8601 date or datetime, got {raw!r}") from None
    start = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
    if (start.hour, start.minute, start.second, start.microsecond) != (0, 0, 0, 0):
        raise ConfigError(f"COLDTIER_START must be a UTC midnight so every window aligns, got {raw!r}")
    return start


def _check_warm_dsn(dsn: str) -> str:
    scheme = urlparse(dsn).scheme
    if scheme == "chdb":
        path = urlparse(dsn).path
        if not path or not path.startswith("/"):
            raise ConfigError(
                f"COLDTIER_WARM_DSN must be chdb:///absolute/path for the embedded tier, got {redact_url(dsn)!r}"
            )
        return dsn
    if scheme in ("http", "https"):
        if not urlparse(dsn).hostname:
            raise ConfigError(f"COLDTIER_WARM_DSN has no host: {redact_url(dsn)!r}")
        return dsn
    raise ConfigError(
        f"COLDTIER_WARM_DSN must start with chdb://, http:// or https://, got {redact_url(dsn)!r}"
    )


def _check_catalog_uri(uri: str) -> str:
    scheme = urlparse(uri).scheme
    if scheme == "sqlite" or scheme.startswith("postgresql"):
        return uri
    raise ConfigError(
        f"COLDTIER_CATALOG_URI must be a sqlite:/// or postgresql:// URI, got {redact_url(uri)!r}"
    )


def _check_warehouse(location: str) -> str:
    parsed = urlparse(location)
    if parsed.scheme in ("s3", "s3a") and not parsed.netloc:
        raise ConfigError(f"COLDTIER_WAREHOUSE must name a bucket: s3://bucket/prefix, got {location!r}")
    if parsed.scheme in ("file", "s3", "s3a", "gs", "abfs", "abfss"):
        return location.rstrip("/") if parsed.scheme in ("s3", "s3a") else location
    raise ConfigError(
        f"COLDTIER_WAREHOUSE must be a URI such as file:///dir or s3://bucket/prefix, got {location!r}"
    )


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    raw = (env.get(name) or choices[0]).strip()
    if raw.lower() not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw.lower()


def _spark_conf(raw: str | None) -> dict[str, str]:
    """``COLDTIER_SPARK_CONF``: ``spark.key=value`` items separated by commas (values without commas)."""
    conf: dict[str, str] = {}
    for number, item in enumerate((raw or "").split(","), start=1):
        if not item.strip():
            continue
        key, equals, value = item.partition("=")
        key = key.strip()
        if not equals or not key.startswith("spark.") or not value.strip():
            # name the item by position and key only: a value (or a value split at a comma) may be a secret
            shown = f" ({key!r})" if equals and key else ""
            raise ConfigError(
                f"COLDTIER_SPARK_CONF must be spark.key=value items separated by commas; item {number}{shown} "
                "is not"
            )
        conf[key] = value.strip()
    return conf


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read every setting from ``env`` (default: the process environment), validating each."""
    env = os.environ if env is None else env
    home = Path(env.get("COLDTIER_HOME") or ".coldtier").expanduser().resolve()
    window_minutes = _positive_int(env, "COLDTIER_WINDOW_MINUTES", 15)
    if 60 % window_minutes != 0:
        raise ConfigError(
            f"COLDTIER_WINDOW_MINUTES must divide 60 (1, 2, 5, 10, 15, 30, 60…), got {window_minutes}"
        )
    embedded = (env.get("COLDTIER_WARM_DSN") or "chdb:").startswith("chdb:")  # one process at a time
    return Settings(
        home=home,
        warm_dsn=_check_warm_dsn(env.get("COLDTIER_WARM_DSN") or f"chdb://{home / 'warm'}"),
        catalog_uri=_check_catalog_uri(env.get("COLDTIER_CATALOG_URI") or f"sqlite:///{home / 'catalog.db'}"),
        catalog_name=env.get("COLDTIER_CATALOG_NAME") or "coldtier",
        namespace=env.get("COLDTIER_NAMESPACE") or "cold",
        warehouse=_check_warehouse(env.get("COLDTIER_WAREHOUSE") or (home / "warehouse").as_uri()),
        window_minutes=window_minutes,
        allowed_lateness=timedelta(
            seconds=_positive_int(env, "COLDTIER_ALLOWED_LATENESS_SECONDS", 120, allow_zero=True)
        ),
        start=_parse_start(env.get("COLDTIER_START") or DEFAULT_START),
        read_slice_rows=_positive_int(env, "COLDTIER_READ_SLICE_ROWS", 250_000),
        dagster_home=Path(env.get("DAGSTER_HOME") or home / "dagster_home").expanduser().resolve(),
        first_copy_lookback=timedelta(hours=_positive_int(env, "COLDTIER_FIRST_COPY_LOOKBACK_HOURS", 24)),
        heal_lookback=timedelta(hours=_positive_int(env, "COLDTIER_HEAL_LOOKBACK_HOURS", 6)),
        dagster_pg_url=env.get("COLDTIER_DAGSTER_PG_URL") or None,
        warm_lock_timeout=timedelta(seconds=_positive_int(env, "COLDTIER_WARM_LOCK_TIMEOUT_SECONDS", 900)),
        maintenance_engine=_choice(env, "COLDTIER_MAINTENANCE_ENGINE", MAINTENANCE_ENGINES),
        spark_master=(env.get("COLDTIER_SPARK_MASTER") or DEFAULT_SPARK_MASTER).strip(),
        spark_conf=_spark_conf(env.get("COLDTIER_SPARK_CONF")),
        s3=load_s3_settings(env),
        max_concurrent_runs=_positive_int(env, "COLDTIER_MAX_CONCURRENT_RUNS", 2 if embedded else 4),
        max_runs_per_table=_positive_int(env, "COLDTIER_MAX_RUNS_PER_TABLE", 4),
    )
