"""Passwords are never shown (#10 item 5): every command, every error path, the Dagster UI's GraphQL.

A random ``hunter2-…`` password is put in ``COLDTIER_WARM_DSN``, ``COLDTIER_CATALOG_URI`` and
``COLDTIER_DAGSTER_PG_URL`` and an AWS secret key in ``AWS_SECRET_ACCESS_KEY``. The catalog and the
Dagster instance live on a real PostgreSQL server (trust authentication: it accepts the password);
the warm tier with a password is a ClickHouse URL nothing listens on (no ClickHouse server here), so
it provokes the error paths, and the embedded chDB serves the commands that must succeed. Then
`coldtier dev` runs the real webserver, two real Dagster runs (one failing on the warm tier) go to
the PostgreSQL instance, and the webserver's GraphQL is asked for the resources, the instance and
the runs' event logs. The password appears in none of it.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from coldtier_assets_tests.cli_runner import cli_env, free_port, run_cli
from coldtier_assets_tests.fixtures import DAY, embedded_env
from coldtier_assets_tests.postgres_server import create_database

PASSWORD = f"hunter2-{uuid.uuid4().hex[:12]}"
AWS_SECRET = f"{PASSWORD}-aws"
START = DAY + timedelta(hours=10)
PARTITION = START.strftime("%Y-%m-%d-%H:%M")
SPAN = ["--start", START.isoformat(), "--end", (START + timedelta(minutes=15)).isoformat()]


@dataclass
class Secrets:
    """The environment with passwords everywhere, and everything coldtier showed so far."""

    env: dict[str, str]
    home: Path
    shown: dict[str, str] = field(default_factory=dict)

    def run(
        self, label: str, args: list[str], overrides: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a command, keep its output for the final check."""
        result = run_cli(args, {**self.env, **(overrides or {})})
        self.shown[label] = result.stdout + result.stderr
        return result


def _with_password(url: str) -> str:
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@", 1)


@pytest.fixture(scope="module")
def secrets(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secrets]:
    home = tmp_path_factory.mktemp("secrets") / "coldtier"
    env = {
        **embedded_env(home),
        "COLDTIER_CATALOG_URI": _with_password(create_database(postgres_url)),
        "COLDTIER_DAGSTER_PG_URL": _with_password(create_database(postgres_url)),
        "AWS_ACCESS_KEY_ID": "coldtier-test",
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
    }
    yield Secrets(env, home)


def _unreachable_warm() -> str:
    return f"http://default:{PASSWORD}@127.0.0.1:{free_port()}/default"


def _unreachable_postgres() -> str:
    return f"postgresql://iceberg:{PASSWORD}@127.0.0.1:{free_port()}/iceberg"


def _assert_nothing_shown(shown: dict[str, str]) -> None:
    leaks = [label for label, text in shown.items() if PASSWORD in text]
    assert not leaks, f"the password was shown by: {leaks}"


def test_commands_that_work(secrets: Secrets) -> None:
    table = ["--table", "bronze_trades_binance"]
    end = (START + timedelta(minutes=30)).isoformat()
    steps: list[tuple[str, list[str]]] = [
        ("init", ["init"]),
        ("simulate", ["simulate", "--start", START.isoformat(), "--end", end, "--rate", "4"]),
        ("offload", ["offload", *table, *SPAN]),
        ("status", ["status"]),
        ("verify", ["verify", *table, "--since", START.isoformat(), "--until", end]),
        ("query", ["query", "SELECT count() AS trades FROM bronze_trades_binance"]),
        ("config", ["config"]),
        ("maintain", ["maintain", *table]),
        ("retention", ["retention", "--days", "3650", "--dry-run"]),
    ]
    for label, args in steps:
        result = secrets.run(label, args)
        assert result.returncode == 0, (label, result.stderr)
    assert "***" in secrets.shown["config"]
    _assert_nothing_shown(secrets.shown)


@pytest.mark.parametrize("broken", ["warm", "catalog", "config", "debug"])
def test_every_error_path(secrets: Secrets, broken: str) -> None:
    overrides = {
        "warm": {"COLDTIER_WARM_DSN": _unreachable_warm()},
        "catalog": {"COLDTIER_CATALOG_URI": _unreachable_postgres()},
        "config": {"COLDTIER_WARM_DSN": f"ftp://default:{PASSWORD}@127.0.0.1/x"},
        "debug": {"COLDTIER_WARM_DSN": _unreachable_warm(), "COLDTIER_DEBUG": "1"},
    }[broken]
    table = ["--table", "bronze_trades_binance"]
    for label, args in [
        ("init", ["init"]),
        ("simulate", ["simulate", *SPAN, "--rate", "1"]),
        ("offload", ["offload", *table, *SPAN]),
        ("status", ["status"]),
        ("verify", [*["verify", *table], "--since", START.isoformat()]),
        ("query", ["query", "SELECT count() FROM bronze_trades_binance"]),
        ("maintain", ["maintain", *table]),
        ("retention", ["retention", "--days", "1"]),
    ]:
        result = secrets.run(f"{broken}: {label}", args, overrides)
        if not (broken == "catalog" and label == "simulate"):  # the feed does not use the catalog
            assert result.returncode != 0, (broken, label, result.stdout)
    _assert_nothing_shown(secrets.shown)


def test_exporter(secrets: Secrets) -> None:
    port = free_port()
    exporter = subprocess.Popen(
        [sys.executable, "-m", "coldtier_assets.cli", "exporter", "--port", str(port)],
        env=cli_env(secrets.env, COLDTIER_WARM_DSN=_unreachable_warm()),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # A shell starts background jobs (a CI runner, nohup) with SIGINT ignored, and the child
        # would inherit that: give it the default, so Ctrl-C (below) stops it as in a terminal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        secrets.shown["exporter /metrics"] = _get_when_up(f"http://127.0.0.1:{port}/metrics", exporter)
    finally:
        exporter.send_signal(signal.SIGINT)
        output, _ = exporter.communicate(timeout=60)
    secrets.shown["exporter output"] = output
    assert "coldtier_" in secrets.shown["exporter /metrics"]
    _assert_nothing_shown(secrets.shown)


def _get_when_up(url: str, process: subprocess.Popen[str], data: bytes | None = None) -> str:
    """The body of ``url`` once the server answers (POST ``data`` when given)."""
    while process.poll() is None:  # the test's own time limit bounds the wait
        with contextlib.suppress(OSError):
            request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.read().decode()
        time.sleep(1)
    raise AssertionError(f"{url}: the server exited with {process.returncode}")


RESOURCES = """{ workspaceOrError { ... on Workspace { locationEntries { name locationOrLoadError {
  __typename ... on PythonError { message }
  ... on RepositoryLocation { repositories { name allTopLevelResourceDetails {
    name configuredValues { key value type } } } } } } } }
  instance { info } }"""
RUNS = "{ runsOrError { ... on Runs { results { runId status } } } }"
LOGS = """query Logs($runId: ID!) { logsForRun(runId: $runId) { __typename
  ... on EventConnection { events { __typename ... on MessageEvent { message }
    ... on ExecutionStepFailureEvent { error { message stack causes { message stack } } }
    ... on MaterializationEvent { metadataEntries { label ... on TextMetadataEntry { text }
      ... on PathMetadataEntry { path } ... on UrlMetadataEntry { url }
      ... on JsonMetadataEntry { jsonString } } } } } } }"""


def _graphql(url: str, process: subprocess.Popen[str], query: str, **variables: str) -> dict[str, object]:
    body = json.dumps({"query": query, "variables": variables}).encode()
    answer = json.loads(_get_when_up(f"{url}/graphql", process, body))
    assert "errors" not in answer, answer
    return answer["data"]


def _materialize(secrets: Secrets, label: str, **overrides: str) -> None:
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "coldtier_assets.definitions"]
    command += ["--select", "cold/bronze_trades_binance", "--partition", PARTITION]
    env = cli_env(secrets.env, DAGSTER_HOME=str(secrets.home / "dagster_home"), **overrides)
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    secrets.shown[label] = result.stdout + result.stderr


def test_dev_webserver_graphql_and_run_logs(secrets: Secrets) -> None:
    port = free_port()
    dev = subprocess.Popen(
        [sys.executable, "-m", "coldtier_assets.cli", "dev", "--no-live", "--port", str(port)],
        env=cli_env(secrets.env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        workspace = _graphql(url, dev, RESOURCES)
        _materialize(secrets, "dagster run (warm tier unreachable)", COLDTIER_WARM_DSN=_unreachable_warm())
        _materialize(secrets, "dagster run")
        runs = _graphql(url, dev, RUNS)["runsOrError"]
        run_ids = [run["runId"] for run in runs["results"]]  # type: ignore[index]
        logs = {run_id: _graphql(url, dev, LOGS, runId=run_id) for run_id in run_ids}
    finally:
        dev.send_signal(signal.SIGTERM)
        output, _ = dev.communicate(timeout=180)
    secrets.shown["dev output"] = output
    secrets.shown["graphql resources + instance"] = json.dumps(workspace)
    secrets.shown["graphql run logs"] = json.dumps(logs)
    for log in sorted((secrets.home / "logs").glob("*.log")):
        secrets.shown[f"log file {log.name}"] = log.read_text(errors="replace")
    resource_values = json.dumps(workspace)
    assert '"type": "ENV_VAR"' in resource_values and "COLDTIER_CATALOG_URI" in resource_values
    assert len(run_ids) >= 2  # ours, plus whatever the daemon's sensors launched
    assert "cannot open warm tier http://default:***@127.0.0.1" in json.dumps(logs)
    _assert_nothing_shown(secrets.shown)
