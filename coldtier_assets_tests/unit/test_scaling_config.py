"""Scaling-out configuration: the run queue written into dagster.yaml, and the README's run launcher.

The README's DockerRunLauncher fragment is validated with Dagster's own instance schema and built by
dagster-docker (building it does not contact Docker; launching a run would, and Docker cannot run
here).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from dagster._config import validate_config
from dagster._core.instance.config import dagster_instance_config_schema
from dagster._core.launcher import RunLauncher
from dagster._serdes import ConfigurableClassData

from coldtier_assets.cli.instance import instance_yaml
from coldtier_assets.config import load_settings
from coldtier_assets.tables import TABLES

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_fragment(marker: str) -> dict[str, object]:
    text = README.read_text()
    match = re.search(re.escape(marker) + r".*?```yaml\n(.*?)```", text, re.DOTALL)
    assert match, f"no yaml block after {marker} in the README"
    return yaml.safe_load(match.group(1))


def test_dagster_yaml_carries_the_run_queue_from_the_settings(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "COLDTIER_HOME": str(tmp_path),
            "COLDTIER_MAX_CONCURRENT_RUNS": "6",
            "COLDTIER_MAX_RUNS_PER_TABLE": "3",
        }
    )
    config = yaml.safe_load(instance_yaml(settings))
    queue = config["run_coordinator"]["config"]
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert queue["max_concurrent_runs"] == 6
    assert queue["tag_concurrency_limits"] == [
        {"key": f"coldtier/table.{spec.name}", "limit": 3} for spec in TABLES
    ]
    assert validate_config(dagster_instance_config_schema(), config).success


def test_both_instance_templates_fail_a_run_still_going_after_an_hour(tmp_path: Path) -> None:
    """A run whose worker died during a database outage stays STARTED; the time limit ends it."""
    for database in ("sqlite", "postgres"):
        env = {"COLDTIER_HOME": str(tmp_path)}
        if database == "postgres":
            env["COLDTIER_DAGSTER_PG_URL"] = "postgresql://coldtier@localhost:5432/dagster"
        config = yaml.safe_load(instance_yaml(load_settings(env)))
        assert config["run_monitoring"]["enabled"] is True
        assert config["run_monitoring"]["max_runtime_seconds"] == 3600
        assert validate_config(dagster_instance_config_schema(), config).success


def test_embedded_default_runs_two_at_once_a_server_four(tmp_path: Path) -> None:
    embedded = load_settings({"COLDTIER_HOME": str(tmp_path)})
    server = load_settings(
        {"COLDTIER_HOME": str(tmp_path), "COLDTIER_WARM_DSN": "https://ch.example:8443/db"}
    )
    assert (embedded.max_concurrent_runs, server.max_concurrent_runs) == (2, 4)


def test_readme_docker_run_launcher_is_a_valid_instance_config(tmp_path: Path) -> None:
    fragment = _readme_fragment("<!-- docker-run-launcher -->")
    settings = load_settings(
        {"COLDTIER_HOME": str(tmp_path), "COLDTIER_DAGSTER_PG_URL": "postgresql://x@y/z"}
    )
    config = {**yaml.safe_load(instance_yaml(settings)), **fragment}
    result = validate_config(dagster_instance_config_schema(), config)
    assert result.success, result.errors
    launcher = fragment["run_launcher"]
    assert isinstance(launcher, dict)
    data = ConfigurableClassData(launcher["module"], launcher["class"], yaml.safe_dump(launcher["config"]))
    built = data.rehydrate(RunLauncher)  # validates the config against DockerRunLauncher's own schema
    assert type(built).__name__ == "DockerRunLauncher"
    assert "COLDTIER_WARM_DSN" in built.env_vars  # type: ignore[attr-defined]
