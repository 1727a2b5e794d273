"""A Spark session whose Iceberg catalog is the very catalog pyiceberg's ``SqlCatalog`` writes.

pyiceberg's ``SqlCatalog`` and Iceberg-Java's ``JdbcCatalog`` share one table layout
(``iceberg_tables`` / ``iceberg_namespace_properties``, keyed by ``catalog_name``), so Spark reads
the cold tables when its catalog

* is an ``org.apache.iceberg.spark.SparkCatalog`` of ``type=jdbc`` named like ``settings.catalog_name``
  (pyiceberg stores its own name in the ``catalog_name`` column; another name sees no tables),
* points at the same database (``sqlite:///f`` → ``jdbc:sqlite:f``,
  ``postgresql://u:p@h:port/db`` → ``jdbc:postgresql://h:port/db`` + ``jdbc.user``/``jdbc.password``),
* uses ``jdbc.schema-version=V1`` (the ``iceberg_type`` column pyiceberg 0.12 creates),
* has ``cache-enabled=false``: pyiceberg commits behind Spark's back, and Spark's default table cache
  would keep serving the snapshot it loaded first, and
* has ``jdbc.init-catalog-tables=false``: pyiceberg creates the catalog tables. Iceberg-Java's
  "do the tables exist?" probe leaves a SQLite statement open on a pooled connection, which pins
  that connection to an old snapshot (Spark misses later pyiceberg commits) and makes pyiceberg's
  next commit fail with "database is locked".

Where Spark runs comes from the settings: ``COLDTIER_SPARK_MASTER`` (default ``local[2]``; a
``spark://…``, ``yarn`` or ``k8s://…`` master works unchanged) and ``COLDTIER_SPARK_CONF``
(``spark.key=value,…``, e.g. executor memory and cores). Spark's own environment passes through
as usual (``SPARK_HOME``, ``SPARK_CONF_DIR`` with its ``spark-defaults.conf``, ``PYSPARK_SUBMIT_ARGS``):
the small local defaults below apply to a ``local`` master only, so a cluster keeps its own.

The conf carries the catalog password (``jdbc.password``): never log it (Spark's UI and event log
redact it through ``spark.redaction.regex``). This module does not import Dagster; the Dagster layer
wraps :func:`build_spark_session` in a dagster-pyspark resource.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from coldtier_assets.config import Settings
from coldtier_assets.redact import redact
from coldtier_assets.resources.iceberg import open_catalog
from coldtier_assets.resources.spark_jars import (
    ICEBERG_EXTENSIONS,
    SparkUnavailableError,
    catalog_kind,
    check_running_jvm,
    java_executable,
    spark_jars,
)
from coldtier_assets.resources.spark_s3 import spark_s3_conf

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

ICEBERG_SPARK_CATALOG = "org.apache.iceberg.spark.SparkCatalog"

#: Every session: no UI, no progress bars, UTC.
COMMON_SPARK_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
}
#: A small local Spark (``local[…]`` masters only): little memory, few shuffle partitions, loopback.
LOCAL_SPARK_CONF: dict[str, str] = {
    "spark.driver.memory": "1g",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
}
#: Comma-separated list settings: coldtier's entries and the user's are joined, not replaced.
_LIST_KEYS = ("spark.jars",)

_LOG4J2_PROPERTIES = """\
# Written by coldtier_assets.resources.spark: warnings and errors only, on stderr.
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
# "Unable to load native-hadoop library" and "hostname resolves to a loopback address".
logger.nativecode.name = org.apache.hadoop.util.NativeCodeLoader
logger.nativecode.level = error
logger.sparkutils.name = org.apache.spark.util.Utils
logger.sparkutils.level = error
"""


def jdbc_catalog_uri(catalog_uri: str) -> tuple[str, dict[str, str]]:
    """Translate a pyiceberg/SQLAlchemy catalog URI to a JDBC URL plus ``jdbc.*`` connection properties.

    ``sqlite:///relative`` and ``sqlite:////absolute`` follow SQLAlchemy (the path after the third
    slash); ``postgresql[+driver]://user:password@host:port/db?query`` keeps host, port, database and
    query, and moves user and password into ``jdbc.user`` / ``jdbc.password``.
    """
    kind = catalog_kind(catalog_uri)
    parsed = urlparse(catalog_uri)
    if kind == "sqlite":
        path = catalog_uri.split("://", 1)[1].split("?", 1)[0]
        path = path[1:] if path.startswith("/") else path
        if not path or path == ":memory:":
            raise SparkUnavailableError(
                f"an in-memory SQLite catalog cannot be shared with Spark: {catalog_uri!r}"
            )
        return f"jdbc:sqlite:{Path(unquote(path)).absolute()}", {}
    if not parsed.hostname:
        raise SparkUnavailableError(f"PostgreSQL catalog URI has no host: {redact(catalog_uri)!r}")
    host = f"[{parsed.hostname}]" if ":" in parsed.hostname else parsed.hostname
    netloc = f"{host}:{parsed.port}" if parsed.port else host
    url = f"jdbc:postgresql://{netloc}{parsed.path or '/'}"
    if parsed.query:
        url += f"?{parsed.query}"
    properties: dict[str, str] = {}
    if parsed.username:
        properties["jdbc.user"] = unquote(parsed.username)
    if parsed.password:
        properties["jdbc.password"] = unquote(parsed.password)
    return url, properties


def _log4j2_config(settings: Settings) -> Path:
    """Write (once) a log4j2 configuration: warnings only, without the start-up chatter."""
    path = settings.home / "spark" / "log4j2.properties"
    if not path.is_file() or path.read_text() != _LOG4J2_PROPERTIES:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_LOG4J2_PROPERTIES)
    return path


def _catalog_conf(settings: Settings) -> dict[str, str]:
    """The ``spark.sql.catalog.<name>.*`` settings of coldtier's catalog (with the JDBC credentials)."""
    jdbc_url, jdbc_properties = jdbc_catalog_uri(settings.catalog_uri)
    prefix = f"spark.sql.catalog.{settings.catalog_name}"
    return {
        prefix: ICEBERG_SPARK_CATALOG,
        f"{prefix}.type": "jdbc",
        f"{prefix}.uri": jdbc_url,
        f"{prefix}.warehouse": settings.warehouse,
        # pyiceberg 0.12 creates the catalog tables with the V1 layout (``iceberg_type`` column).
        f"{prefix}.jdbc.schema-version": "V1",
        # pyiceberg creates the catalog tables; Iceberg-Java's creation check leaves a SQLite
        # statement open, which pins that connection to an old snapshot and locks out writers.
        f"{prefix}.jdbc.init-catalog-tables": "false",
        # pyiceberg commits behind Spark's back: never serve a cached (stale) table version.
        f"{prefix}.cache-enabled": "false",
        **{f"{prefix}.{key}": value for key, value in jdbc_properties.items()},
    }


def spark_conf(
    settings: Settings, *, app_name: str = "coldtier", extra_conf: dict[str, str] | None = None
) -> dict[str, str]:
    """Return the Spark configuration of :func:`build_spark_session` (also what dagster-pyspark gets).

    Later layers win: the common defaults (plus the local ones for a ``local`` master), the master
    (``settings.spark_master``), ``settings.spark_conf`` (``COLDTIER_SPARK_CONF``), coldtier's jars,
    SQL extensions and catalog, then ``extra_conf`` (e.g. S3 FileIO settings such as
    ``spark.sql.catalog.<name>.io-impl``). ``spark.jars`` lists are joined. Writes the log4j2 file
    under ``settings.home/spark``. The result holds the catalog password: never log it.
    """
    master = (extra_conf or {}).get("spark.master") or settings.spark_master
    conf: dict[str, str] = {
        **COMMON_SPARK_CONF,
        **(LOCAL_SPARK_CONF if master.startswith("local") else {}),
        "spark.master": master,
        "spark.app.name": app_name,
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={_log4j2_config(settings).as_uri()}",
    }
    jars = [str(jar) for jar in spark_jars(settings.catalog_uri)]
    for layer in (
        dict(settings.spark_conf),
        {"spark.jars": ",".join(jars), "spark.sql.extensions": ICEBERG_EXTENSIONS},
        _catalog_conf(settings),
        spark_s3_conf(settings, ",".join(jars)),  # s3:// warehouse: S3A and its jars
        extra_conf or {},
    ):
        for key, value in layer.items():
            if key in _LIST_KEYS and conf.get(key):
                value = ",".join(dict.fromkeys([*conf[key].split(","), *value.split(",")]))
            conf[key] = value
    return conf


def build_spark_session(
    settings: Settings, *, app_name: str = "coldtier", extra_conf: dict[str, str] | None = None
) -> SparkSession:
    """Start a Spark session whose catalog ``settings.catalog_name`` is coldtier's catalog.

    The cold tables are ``<catalog_name>.<namespace>.<table>``; the Iceberg SQL extensions enable
    ``CALL <catalog_name>.system.rewrite_data_files(...)`` / ``expire_snapshots(...)``; pyiceberg's
    commits are visible to the next query. The catalog tables are created first through pyiceberg
    (:func:`~coldtier_assets.resources.iceberg.open_catalog`) when missing.

    Spark keeps one JVM and one SparkContext per process. The first call starts them with
    :func:`spark_conf`; a later call returns a new session on the same SparkContext with this
    call's catalog settings (so two catalogs of the same name do not mix), while the JVM-wide
    settings (jars, memory, master) stay those of the first call. Raises
    :class:`SparkUnavailableError` when Java, pyspark or a jar is missing, or when the running
    JVM lacks a jar this session needs.
    """
    java_executable()
    conf = spark_conf(settings, app_name=app_name, extra_conf=extra_conf)
    try:
        from pyspark import SparkContext
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkUnavailableError("pyspark is not installed: pip install 'pyspark==3.5.*'") from None
    open_catalog(settings)  # pyiceberg owns the catalog tables (V1 layout): make sure they exist
    check_running_jvm(settings.catalog_uri)
    context = SparkContext._active_spark_context
    if context is not None:
        session = SparkSession.Builder().getOrCreate().newSession()
        for key, value in conf.items():
            # Catalog options are not registered SQL configs, so isModifiable() is False for them.
            if key.startswith("spark.sql.catalog.") or session.conf.isModifiable(key):
                session.conf.set(key, value)
        return session
    builder = SparkSession.Builder()
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as error:
        raise SparkUnavailableError(
            redact(f"cannot start Spark ({conf['spark.master']}): {error}")
        ) from error
    return session
