import re
from pathlib import Path

import pytest

from coldtier_assets import config
from coldtier_assets.config import load_settings
from coldtier_assets.errors import ConfigError


def test_embedded_defaults_live_under_home(tmp_path: Path) -> None:
    settings = load_settings({"COLDTIER_HOME": str(tmp_path)})
    assert settings.warm_dsn == f"chdb://{tmp_path}/warm"
    assert settings.warm_is_embedded
    assert settings.catalog_uri == f"sqlite:///{tmp_path}/catalog.db"
    assert settings.warehouse == (tmp_path / "warehouse").as_uri()
    assert settings.window_minutes == 15
    assert settings.allowed_lateness.total_seconds() == 120
    assert settings.dagster_home == tmp_path / "dagster_home"


def test_production_values_are_taken_as_given(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "COLDTIER_HOME": str(tmp_path),
            "COLDTIER_WARM_DSN": "https://reader:secret@ch.example:8443/market",
            "COLDTIER_CATALOG_URI": "postgresql://iceberg@db:5432/catalog",
            "COLDTIER_WAREHOUSE": "s3://bucket/cold",
            "COLDTIER_WINDOW_MINUTES": "5",
            "COLDTIER_START": "2025-06-01",
        }
    )
    assert not settings.warm_is_embedded
    assert settings.window_minutes == 5
    assert settings.start.isoformat() == "2025-06-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("COLDTIER_WINDOW_MINUTES", "abc", "COLDTIER_WINDOW_MINUTES must be an integer"),
        ("COLDTIER_WINDOW_MINUTES", "7", "COLDTIER_WINDOW_MINUTES must divide 60"),
        ("COLDTIER_WINDOW_MINUTES", "0", "COLDTIER_WINDOW_MINUTES must be > 0"),
        ("COLDTIER_ALLOWED_LATENESS_SECONDS", "-5", "COLDTIER_ALLOWED_LATENESS_SECONDS must be >= 0"),
        ("COLDTIER_WARM_DSN", "mysql://x", "COLDTIER_WARM_DSN must start with"),
        ("COLDTIER_WARM_DSN", "chdb://relative", "COLDTIER_WARM_DSN must be chdb:///absolute/path"),
        ("COLDTIER_CATALOG_URI", "mongodb://x", "COLDTIER_CATALOG_URI must be"),
        ("COLDTIER_WAREHOUSE", "/plain/path", "COLDTIER_WAREHOUSE must be a URI"),
        ("COLDTIER_START", "yesterday", "COLDTIER_START must be an ISO 8601"),
        ("COLDTIER_START", "2026-01-01T03:00:00", "COLDTIER_START must be a UTC midnight"),
        ("COLDTIER_READ_SLICE_ROWS", "1e6", "COLDTIER_READ_SLICE_ROWS must be an integer"),
        (
            "COLDTIER_MAINTENANCE_ENGINE",
            "trino",
            "COLDTIER_MAINTENANCE_ENGINE must be one of pyiceberg, spark",
        ),
        ("COLDTIER_SPARK_CONF", "spark.executor.memory", "COLDTIER_SPARK_CONF must be spark.key=value"),
        ("COLDTIER_SPARK_CONF", "executor.memory=4g", r"item 1 \('executor.memory'\) is not"),
    ],
)
def test_wrong_value_names_the_variable(tmp_path: Path, variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({"COLDTIER_HOME": str(tmp_path), variable: value})


def test_maintenance_engine_and_spark_settings(tmp_path: Path) -> None:
    defaults = load_settings({"COLDTIER_HOME": str(tmp_path)})
    assert (defaults.maintenance_engine, defaults.spark_master, dict(defaults.spark_conf)) == (
        "pyiceberg",
        "local[2]",
        {},
    )
    settings = load_settings(
        {
            "COLDTIER_HOME": str(tmp_path),
            "COLDTIER_MAINTENANCE_ENGINE": "Spark",
            "COLDTIER_SPARK_MASTER": "spark://spark-master:7077",
            "COLDTIER_SPARK_CONF": "spark.executor.memory=8g, spark.executor.cores=4,",
        }
    )
    assert settings.maintenance_engine == "spark"
    assert settings.spark_master == "spark://spark-master:7077"
    assert settings.spark_conf == {"spark.executor.memory": "8g", "spark.executor.cores": "4"}


def test_a_bad_spark_conf_item_is_named_by_position_never_by_its_value(tmp_path: Path) -> None:
    # a value containing a comma splits into a second item, which may be part of a secret
    conf = "spark.hadoop.fs.s3a.secret.key=abc,hunter2-tail"
    with pytest.raises(ConfigError, match="item 2 is not") as raised:
        load_settings({"COLDTIER_HOME": str(tmp_path), "COLDTIER_SPARK_CONF": conf})
    assert "hunter2" not in str(raised.value) and "abc" not in str(raised.value)


def test_definitions_fail_at_start_up_on_a_wrong_value(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {"COLDTIER_HOME": str(tmp_path), "COLDTIER_WINDOW_MINUTES": "7", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", "import coldtier_assets.definitions"], env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "COLDTIER_WINDOW_MINUTES must divide 60" in result.stderr


def test_every_coldtier_variable_read_is_documented_with_its_real_default() -> None:
    source = (Path(config.__file__)).read_text()
    read = set(re.findall(r'"(COLDTIER_[A-Z_]+)"', source))
    documented = {variable: default for variable, _meaning, default in config.settings_doc()}
    assert read <= set(documented), f"undocumented: {sorted(read - set(documented))}"
    assert documented["COLDTIER_START"] == config.DEFAULT_START
    assert documented["COLDTIER_SPARK_MASTER"] == config.DEFAULT_SPARK_MASTER
