"""Spark settings for an ``s3://`` warehouse: Hadoop's S3A file system, without a secret in the conf.

Iceberg's ``JdbcCatalog`` reads and writes through ``HadoopFileIO`` when no ``io-impl`` is set, so
Spark reaches S3 through Hadoop's ``S3AFileSystem``, registered for ``s3://`` and ``s3a://`` (the
tables pyiceberg writes are named ``s3://…``). Its jars — ``hadoop-aws`` and the AWS SDK bundle —
come from the ``sagemaker_pyspark`` package on PyPI, the one registry package found that ships them
(``hadoop-aws-3.3.1``, same Hadoop 3.3 line as pyspark 3.5's ``hadoop-client-3.3.4``, and
``aws-java-sdk-bundle-1.11.901``); it is installed with ``--no-deps`` (it pins pyspark 3.3). Set
``COLDTIER_S3A_JARS`` (comma-separated paths) to use other jars.

The endpoint, path-style addressing and region come from
:class:`~coldtier_assets.config.S3Settings`. Credentials are **not** put in the Spark conf (Spark
would show them in its environment page and Dagster in the resource config): S3A's default
provider chain reads ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` from the environment, and on a
cluster the instance profile.
"""

from __future__ import annotations

import os
from importlib import import_module
from pathlib import Path
from urllib.parse import urlparse

from coldtier_assets.config import Settings
from coldtier_assets.errors import ColdtierError

S3A_JARS_ENV = "COLDTIER_S3A_JARS"
S3A_JAR_GLOBS = ("hadoop-aws-3.3.*.jar", "aws-java-sdk-bundle-*.jar")
S3A_FILE_SYSTEM = "org.apache.hadoop.fs.s3a.S3AFileSystem"


class SparkS3UnavailableError(ColdtierError):
    """Spark cannot reach an ``s3://`` warehouse: the hadoop-aws / AWS SDK jars are not installed."""


def s3a_jars() -> list[Path]:
    """The hadoop-aws and AWS SDK bundle jars (``COLDTIER_S3A_JARS``, else ``sagemaker_pyspark``'s)."""
    if os.environ.get(S3A_JARS_ENV):
        jars = [Path(item.strip()) for item in os.environ[S3A_JARS_ENV].split(",") if item.strip()]
        missing = [str(jar) for jar in jars if not jar.is_file()]
        if missing:
            raise SparkS3UnavailableError(f"{S3A_JARS_ENV} names missing jars: {', '.join(missing)}")
        return jars
    try:
        package_file = import_module("sagemaker_pyspark").__file__
    except ImportError:
        package_file = None
    jars_dir = Path(package_file).parent / "jars" if package_file else None
    jars = (
        [found for pattern in S3A_JAR_GLOBS for found in sorted(jars_dir.glob(pattern))[-1:]]
        if jars_dir
        else []
    )
    if len(jars) != len(S3A_JAR_GLOBS):
        raise SparkS3UnavailableError(
            "Spark needs hadoop-aws and the AWS SDK bundle to read an s3:// warehouse: "
            f"pip install --no-deps sagemaker_pyspark==1.4.5, or set {S3A_JARS_ENV}"
        )
    return jars


def spark_s3_conf(settings: Settings, jars: str) -> dict[str, str]:
    """Spark conf entries for the warehouse: nothing on local disk; S3A (plus its jars) for ``s3://``.

    ``jars`` is the comma-separated ``spark.jars`` value so far; the S3A jars are appended to it.
    """
    if not settings.warehouse_on_s3:
        return {}
    s3 = settings.s3
    conf = {
        "spark.jars": ",".join([jars, *(str(jar.absolute()) for jar in s3a_jars())]),
        "spark.hadoop.fs.s3.impl": S3A_FILE_SYSTEM,
        "spark.hadoop.fs.s3a.impl": S3A_FILE_SYSTEM,
        "spark.hadoop.fs.s3a.endpoint.region": s3.region,
    }
    if s3.endpoint:
        conf |= {
            "spark.hadoop.fs.s3a.endpoint": s3.endpoint,
            "spark.hadoop.fs.s3a.path.style.access": "true",
            "spark.hadoop.fs.s3a.connection.ssl.enabled": str(
                urlparse(s3.endpoint).scheme == "https"
            ).lower(),
        }
    return conf
