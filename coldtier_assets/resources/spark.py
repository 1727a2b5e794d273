"""A local Spark session whose Iceberg catalog is the very catalog pyiceberg's ``SqlCatalog`` writes.

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

The jars come from the installed ``snowpark-connect-deps-iceberg`` package (the Scala 2.12 Iceberg
Spark runtime, which also holds the SQL extensions behind ``CALL <catalog>.system.…``) and the
Debian JDBC driver packages. This module does not import Dagster; ``dagster-pyspark`` can take
:func:`spark_conf` as its ``spark_config``.
"""

from __future__ import annotations

import os
import shutil
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from coldtier_assets.config import Settings
from coldtier_assets.errors import ColdtierError
from coldtier_assets.resources.iceberg import open_catalog
from coldtier_assets.resources.spark_s3 import spark_s3_conf

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: The Iceberg runtime matching pyspark 3.5 (Scala 2.12) inside ``snowpark_connect_deps_iceberg/jars``.
ICEBERG_RUNTIME_JAR_GLOB = "iceberg-spark-runtime-3.5_2.12-*.jar"
#: JDBC drivers from the Debian packages libpostgresql-jdbc-java and libxerial-sqlite-jdbc-java;
#: the environment variables override the paths.
POSTGRESQL_JDBC_JAR_ENV = "COLDTIER_POSTGRESQL_JDBC_JAR"
SQLITE_JDBC_JAR_ENV = "COLDTIER_SQLITE_JDBC_JAR"
DEFAULT_POSTGRESQL_JDBC_JAR = Path("/usr/share/java/postgresql.jar")
DEFAULT_SQLITE_JDBC_JAR = Path("/usr/share/java/sqlite-jdbc.jar")

ICEBERG_EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"
ICEBERG_SPARK_CATALOG = "org.apache.iceberg.spark.SparkCatalog"

#: A small local Spark: two cores, little memory, few shuffle partitions, no UI, UTC.
DEFAULT_SPARK_CONF: dict[str, str] = {
    "spark.master": "local[2]",
    "spark.driver.memory": "1g",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
}


_DRIVER_PROBE_URIS = ("postgresql://", "sqlite:///")

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


class SparkUnavailableError(ColdtierError):
    """Spark cannot start: Java, pyspark, the Iceberg runtime jar or the JDBC driver jar is missing."""


def _catalog_kind(catalog_uri: str) -> str:
    scheme = urlparse(catalog_uri).scheme
    if scheme.startswith("sqlite"):
        return "sqlite"
    if scheme.startswith("postgres"):
        return "postgresql"
    raise SparkUnavailableError(
        f"Spark's JdbcCatalog supports sqlite:/// and postgresql:// catalog URIs, got {catalog_uri!r}"
    )


def iceberg_runtime_jar() -> Path:
    """Return the ``iceberg-spark-runtime-3.5_2.12`` jar shipped by ``snowpark-connect-deps-iceberg``."""
    try:
        package = import_module("snowpark_connect_deps_iceberg")
    except ImportError:
        raise SparkUnavailableError(
            "the Iceberg Spark runtime is not installed: pip install 'coldtier[spark]' "
            "(snowpark-connect-deps-iceberg==1.0.2)"
        ) from None
    package_file = package.__file__
    jars_dir = Path(package_file).parent / "jars" if package_file else None
    jars = sorted(jars_dir.glob(ICEBERG_RUNTIME_JAR_GLOB)) if jars_dir and jars_dir.is_dir() else []
    if not jars:
        raise SparkUnavailableError(
            f"no {ICEBERG_RUNTIME_JAR_GLOB} in {jars_dir}: reinstall snowpark-connect-deps-iceberg==1.0.2"
        )
    return jars[-1]


def jdbc_driver_jar(catalog_uri: str) -> Path:
    """Return the JDBC driver jar Spark's ``JdbcCatalog`` needs for ``catalog_uri`` (PostgreSQL or SQLite)."""
    if _catalog_kind(catalog_uri) == "postgresql":
        jar = Path(os.environ.get(POSTGRESQL_JDBC_JAR_ENV) or DEFAULT_POSTGRESQL_JDBC_JAR)
        package, variable = "libpostgresql-jdbc-java", POSTGRESQL_JDBC_JAR_ENV
    else:
        jar = Path(os.environ.get(SQLITE_JDBC_JAR_ENV) or DEFAULT_SQLITE_JDBC_JAR)
        package, variable = "libxerial-sqlite-jdbc-java", SQLITE_JDBC_JAR_ENV
    if not jar.is_file():
        raise SparkUnavailableError(
            f"JDBC driver {jar} not found: apt-get install {package}, or set {variable} to the driver jar"
        )
    return jar.absolute()


def spark_jars(catalog_uri: str | None = None) -> list[Path]:
    """Return the jars a coldtier Spark session loads: the Iceberg runtime and the JDBC drivers.

    The driver ``catalog_uri`` needs is required (a missing jar raises
    :class:`SparkUnavailableError` naming the package that provides it); the other supported
    driver is added when installed, because a process's Spark JVM keeps the jars of its first
    session, so carrying both lets later sessions of the same process use either catalog database.
    Without a URI, every installed driver is returned.
    """
    jars = [iceberg_runtime_jar()]
    if catalog_uri is not None:
        jars.append(jdbc_driver_jar(catalog_uri))
    for uri in _DRIVER_PROBE_URIS:
        try:
            jar = jdbc_driver_jar(uri)
        except SparkUnavailableError:
            continue
        if jar not in jars:
            jars.append(jar)
    return jars


def jdbc_catalog_uri(catalog_uri: str) -> tuple[str, dict[str, str]]:
    """Translate a pyiceberg/SQLAlchemy catalog URI to a JDBC URL plus ``jdbc.*`` connection properties.

    ``sqlite:///relative`` and ``sqlite:////absolute`` follow SQLAlchemy (the path after the third
    slash); ``postgresql[+driver]://user:password@host:port/db?query`` keeps host, port, database and
    query, and moves user and password into ``jdbc.user`` / ``jdbc.password``.
    """
    kind = _catalog_kind(catalog_uri)
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
        raise SparkUnavailableError(f"PostgreSQL catalog URI has no host: {catalog_uri!r}")
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


def spark_conf(
    settings: Settings, *, app_name: str = "coldtier", extra_conf: dict[str, str] | None = None
) -> dict[str, str]:
    """Return the Spark configuration of :func:`build_spark_session` (usable as dagster-pyspark's config).

    ``extra_conf`` entries win over the defaults (e.g. ``spark.master``, memory, or S3 FileIO
    settings such as ``spark.sql.catalog.<name>.io-impl``; with a remote master also override
    ``spark.driver.host`` / ``spark.driver.bindAddress``, which default to 127.0.0.1). Writes the
    log4j2 file under ``settings.home/spark``.
    """
    jdbc_url, jdbc_properties = jdbc_catalog_uri(settings.catalog_uri)
    prefix = f"spark.sql.catalog.{settings.catalog_name}"
    conf: dict[str, str] = {
        **DEFAULT_SPARK_CONF,
        "spark.app.name": app_name,
        "spark.jars": ",".join(str(jar) for jar in spark_jars(settings.catalog_uri)),
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={_log4j2_config(settings).as_uri()}",
        "spark.sql.extensions": ICEBERG_EXTENSIONS,
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
    conf.update(spark_s3_conf(settings, conf["spark.jars"]))  # s3:// warehouse: S3A and its jars
    conf.update(extra_conf or {})
    return conf


def _java_executable() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file():
            return str(candidate)
        raise SparkUnavailableError(f"JAVA_HOME={java_home} has no bin/java: fix JAVA_HOME or unset it")
    found = shutil.which("java")
    if found is None:
        raise SparkUnavailableError("Spark needs Java 17 on PATH (apt-get install openjdk-17-jre-headless)")
    return found


def _jar_set(value: str | None) -> set[Path]:
    jars: set[Path] = set()
    for item in (value or "").split(","):
        item = item.strip()
        if item:
            jars.add(Path(unquote(urlparse(item).path) if item.startswith("file:") else item).resolve())
    return jars


def _check_running_jvm(catalog_uri: str) -> None:
    """Fail clearly when this process's Spark JVM was started without a jar this catalog needs."""
    from pyspark import SparkContext

    jvm: Any = SparkContext._jvm
    if jvm is None:
        return
    loaded = _jar_set(jvm.java.lang.System.getProperty("spark.jars"))
    required = {iceberg_runtime_jar().resolve(), jdbc_driver_jar(catalog_uri).resolve()}
    missing = sorted(str(jar) for jar in required - loaded)
    if missing:
        raise SparkUnavailableError(
            f"this process's Spark JVM was started without {', '.join(missing)}; jars cannot be added "
            "to a running JVM: build the Spark session in a new process"
        )
    extensions = jvm.java.lang.System.getProperty("spark.sql.extensions") or ""
    if ICEBERG_EXTENSIONS not in extensions:
        raise SparkUnavailableError(
            "this process's Spark session was started without the Iceberg SQL extensions "
            f"({ICEBERG_EXTENSIONS}): build the Spark session in a new process"
        )


def build_spark_session(
    settings: Settings, *, app_name: str = "coldtier", extra_conf: dict[str, str] | None = None
) -> SparkSession:
    """Start a local Spark session whose catalog ``settings.catalog_name`` is coldtier's catalog.

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
    _java_executable()
    conf = spark_conf(settings, app_name=app_name, extra_conf=extra_conf)
    try:
        from pyspark import SparkContext
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkUnavailableError("pyspark is not installed: pip install 'coldtier[spark]'") from None
    open_catalog(settings)  # pyiceberg owns the catalog tables (V1 layout): make sure they exist
    _check_running_jvm(settings.catalog_uri)
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
        raise SparkUnavailableError(f"cannot start Spark ({conf['spark.master']}): {error}") from error
    return session
