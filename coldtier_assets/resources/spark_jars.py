"""What a coldtier Spark JVM needs on this machine: Java, the Iceberg runtime jar and a JDBC driver jar.

The Iceberg runtime (Scala 2.12, with the SQL extensions behind ``CALL <catalog>.system.…``) comes
from the installed ``snowpark-connect-deps-iceberg`` package; the JDBC drivers from the Debian
packages ``libpostgresql-jdbc-java`` and ``libxerial-sqlite-jdbc-java`` (or the paths in the
environment variables below). A missing piece raises :class:`SparkUnavailableError` naming what to
install. Spark keeps one JVM per process and jars cannot be added to it later, so
:func:`check_running_jvm` says so clearly instead of failing deep inside Spark.
"""

from __future__ import annotations

import os
import shutil
from importlib import import_module
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from coldtier_assets.errors import ColdtierError

#: The Iceberg runtime matching pyspark 3.5 (Scala 2.12) inside ``snowpark_connect_deps_iceberg/jars``.
ICEBERG_RUNTIME_JAR_GLOB = "iceberg-spark-runtime-3.5_2.12-*.jar"
#: JDBC drivers from the Debian packages libpostgresql-jdbc-java and libxerial-sqlite-jdbc-java;
#: the environment variables override the paths.
POSTGRESQL_JDBC_JAR_ENV = "COLDTIER_POSTGRESQL_JDBC_JAR"
SQLITE_JDBC_JAR_ENV = "COLDTIER_SQLITE_JDBC_JAR"
DEFAULT_POSTGRESQL_JDBC_JAR = Path("/usr/share/java/postgresql.jar")
DEFAULT_SQLITE_JDBC_JAR = Path("/usr/share/java/sqlite-jdbc.jar")

ICEBERG_EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"

_DRIVER_PROBE_URIS = ("postgresql://", "sqlite:///")


class SparkUnavailableError(ColdtierError):
    """Spark cannot start: Java, pyspark, the Iceberg runtime jar or the JDBC driver jar is missing."""


def catalog_kind(catalog_uri: str) -> str:
    """``sqlite`` or ``postgresql``: the catalog databases Spark's ``JdbcCatalog`` is set up for here."""
    scheme = urlparse(catalog_uri).scheme
    if scheme.startswith("sqlite"):
        return "sqlite"
    if scheme.startswith("postgres"):
        return "postgresql"
    raise SparkUnavailableError(
        f"Spark's JdbcCatalog supports sqlite:/// and postgresql:// catalog URIs, got {urlparse(catalog_uri).scheme}://…"
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
    if catalog_kind(catalog_uri) == "postgresql":
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


def java_executable() -> str:
    """The ``java`` Spark will run (``JAVA_HOME/bin/java`` or the one on PATH), or a clear error."""
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


def check_running_jvm(catalog_uri: str) -> None:
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
