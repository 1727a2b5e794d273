"""S3 settings, the FileIO properties, ClickHouse's icebergS3 URL, S3A conf and orphan path spellings (no server)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from coldtier_assets.config import S3Settings, load_s3_settings, load_settings
from coldtier_assets.errors import ConfigError
from coldtier_assets.maintenance.orphans import StoredFile, unreferenced_files
from coldtier_assets.offload.cold_engine import relative_metadata_path
from coldtier_assets.offload.cold_location import iceberg_table_function, s3_http_url
from coldtier_assets.redact import redact
from coldtier_assets.resources.iceberg import fileio_properties
from coldtier_assets.resources.spark_s3 import spark_s3_conf

SECRET = "s3cr3t-never-shown"
S3 = S3Settings(
    endpoint="http://127.0.0.1:9000", region="eu-west-1", access_key_id="AKIA1", secret_access_key=SECRET
)


def test_s3_settings_from_the_standard_variables() -> None:
    s3 = load_s3_settings(
        {
            "COLDTIER_S3_ENDPOINT": "http://minio:9000/",
            "AWS_DEFAULT_REGION": "eu-central-1",
            "AWS_ACCESS_KEY_ID": "K",
        }
    )
    assert (s3.endpoint, s3.region, s3.access_key_id, s3.secret_access_key) == (
        "http://minio:9000",
        "eu-central-1",
        "K",
        None,
    )
    assert load_s3_settings({}).endpoint is None and load_s3_settings({}).region == "us-east-1"
    assert SECRET not in repr(S3) and "AKIA1" in repr(S3)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("COLDTIER_S3_ENDPOINT", "minio:9000"),
        ("COLDTIER_S3_ENDPOINT", "http://h:9000/bucket"),
        ("COLDTIER_WAREHOUSE", "s3:///prefix"),
    ],
)
def test_bad_s3_values_name_their_variable(tmp_path: Path, variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load_settings({"COLDTIER_HOME": str(tmp_path), variable: value})


def test_fileio_properties(tmp_path: Path) -> None:
    assert fileio_properties(load_settings({"COLDTIER_HOME": str(tmp_path)})) == {}
    env = {
        "COLDTIER_HOME": str(tmp_path),
        "COLDTIER_WAREHOUSE": "s3://bucket/prefix/",
        "COLDTIER_S3_ENDPOINT": "http://127.0.0.1:9000",
        "AWS_ACCESS_KEY_ID": "AKIA1",
        "AWS_SECRET_ACCESS_KEY": SECRET,
    }
    settings = load_settings(env)
    assert settings.warehouse == "s3://bucket/prefix" and settings.warehouse_on_s3
    properties = fileio_properties(settings)
    assert properties["s3.endpoint"] == "http://127.0.0.1:9000"
    assert properties["s3.force-virtual-addressing"] == "false"
    assert properties["s3.access-key-id"] == "AKIA1" and properties["s3.secret-access-key"] == SECRET
    assert properties["py-io-impl"] == "pyiceberg.io.pyarrow.PyArrowFileIO"
    aws = fileio_properties(load_settings({"COLDTIER_HOME": str(tmp_path), "COLDTIER_WAREHOUSE": "s3://b/p"}))
    assert "s3.endpoint" not in aws and "s3.access-key-id" not in aws  # AWS and its default credential chain


def test_clickhouse_reads_s3_path_style_on_an_endpoint_and_virtual_hosted_on_aws() -> None:
    assert s3_http_url("s3://bucket/warehouse/cold/t", S3) == "http://127.0.0.1:9000/bucket/warehouse/cold/t"
    aws = S3Settings(region="eu-west-1")
    assert s3_http_url("s3a://bucket/w/t", aws) == "https://bucket.s3.eu-west-1.amazonaws.com/w/t"
    assert (
        iceberg_table_function("s3://bucket/w/t", aws)
        == "icebergS3('https://bucket.s3.eu-west-1.amazonaws.com/w/t')"
    )
    function = iceberg_table_function("s3://bucket/w/t", S3)
    assert function == f"icebergS3('http://127.0.0.1:9000/bucket/w/t', 'AKIA1', '{SECRET}')"
    assert SECRET not in redact(function, {})  # masked even where the secret is not in the environment
    assert iceberg_table_function("file:///data/it's") == "icebergLocal('/data/it\\'s')"


def test_metadata_path_is_relative_whatever_the_s3_spelling() -> None:
    location = "s3://bucket/w/cold/t"
    assert (
        relative_metadata_path(location, "s3a://bucket/w/cold/t/metadata/2.metadata.json")
        == "metadata/2.metadata.json"
    )
    assert relative_metadata_path(location, "s3://other/w/cold/t/metadata/2.metadata.json").startswith(
        "s3://other"
    )


def test_spark_conf_for_s3_carries_no_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = load_settings({"COLDTIER_HOME": str(tmp_path)})
    assert spark_s3_conf(local, "a.jar") == {}
    jar = tmp_path / "hadoop-aws.jar"
    jar.write_bytes(b"")
    monkeypatch.setenv("COLDTIER_S3A_JARS", str(jar))
    settings = load_settings(
        {
            "COLDTIER_HOME": str(tmp_path),
            "COLDTIER_WAREHOUSE": "s3://bucket/w",
            "COLDTIER_S3_ENDPOINT": "http://127.0.0.1:9000",
            "AWS_ACCESS_KEY_ID": "AKIA1",
            "AWS_SECRET_ACCESS_KEY": SECRET,
        }
    )
    conf = spark_s3_conf(settings, "a.jar")
    assert conf["spark.jars"] == f"a.jar,{jar}"
    assert conf["spark.hadoop.fs.s3.impl"] == "org.apache.hadoop.fs.s3a.S3AFileSystem"
    assert conf["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "false"
    assert SECRET not in repr(conf) and "AKIA1" not in repr(conf)


def test_orphan_listing_never_misses_a_live_file_spelled_differently() -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    stored = [
        StoredFile("bucket/w/t/data/a.parquet", 1, when),
        StoredFile("bucket/w/t/data/sym=BTC%2FUSD/b.parquet", 1, when),  # key written URL-encoded
        StoredFile("bucket/w/t/data/sym=ETH/USD/c.parquet", 1, when),  # key written decoded
        StoredFile("bucket/w/t/data/orphan.parquet", 1, when),
    ]
    referenced = {
        "bucket/w/t/data/a.parquet",
        "bucket/w/t/data/sym=BTC/USD/b.parquet",  # the metadata names it decoded
        "bucket/w/t/data/sym=ETH%2FUSD/c.parquet",  # the metadata names it encoded
    }
    assert [file.path for file in unreferenced_files(stored, referenced)] == [
        "bucket/w/t/data/orphan.parquet"
    ]


def test_coldtier_config_lists_the_s3_settings_without_the_secret(tmp_path: Path) -> None:
    from coldtier_assets.cli.output import config_lines

    env = {"COLDTIER_HOME": str(tmp_path), "COLDTIER_WAREHOUSE": "s3://b/w", "AWS_SECRET_ACCESS_KEY": SECRET}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
        text = "\n".join(line.plain for line in config_lines(load_settings(env), env))
    assert "COLDTIER_S3_ENDPOINT" in text and "AWS_SECRET_ACCESS_KEY = '***'" in text
    assert SECRET not in text
