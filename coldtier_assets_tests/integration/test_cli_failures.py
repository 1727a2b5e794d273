"""Every `coldtier` command fails with one clear line and a non-zero exit, never a traceback (#10 item 4).

Each case is the real event: a port nothing listens on, a table that was never created, a second
process holding the embedded warm tier, ClickHouse rejecting the SQL, Click rejecting an option.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

from coldtier_assets.bundled import bundled_path
from coldtier_assets.config import Settings
from coldtier_assets_tests.cli_runner import assert_one_line_failure, cli_env, free_port, run_cli


def test_unreachable_warm_tier(coldtier_env: dict[str, str]) -> None:
    dsn = f"http://default:pw-warm@127.0.0.1:{free_port()}/default"
    result = run_cli(["status"], coldtier_env, COLDTIER_WARM_DSN=dsn)
    line = assert_one_line_failure(result, 1, "cannot open warm tier http://default:***@127.0.0.1")
    assert "pw-warm" not in line


def test_unreachable_catalog(coldtier_env: dict[str, str]) -> None:
    uri = f"postgresql://iceberg:pw-cat@127.0.0.1:{free_port()}/iceberg"
    result = run_cli(["status"], coldtier_env, COLDTIER_CATALOG_URI=uri)
    assert_one_line_failure(result, 1, "cannot open Iceberg catalog postgresql://iceberg:***@127.0.0.1")


def test_unreachable_dagster_postgres(initialized: Settings, coldtier_env: dict[str, str]) -> None:
    initialized.dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(bundled_path("dagster.postgres.yaml"), initialized.dagster_home / "dagster.yaml")
    url = f"postgresql://dagster:pw-dagster@127.0.0.1:{free_port()}/dagster"
    result = run_cli(["status"], coldtier_env, COLDTIER_DAGSTER_PG_URL=url)
    line = assert_one_line_failure(result, 1, "DagsterPostgresException", "COLDTIER_DAGSTER_PG_URL")
    assert "pw-dagster" not in line


def test_missing_cold_table(coldtier_env: dict[str, str]) -> None:
    result = run_cli(["verify", "--table", "silver_trades"], coldtier_env)
    assert_one_line_failure(result, 1, "cold.silver_trades", "coldtier init")


def test_busy_embedded_warm_tier(initialized: Settings, coldtier_env: dict[str, str]) -> None:
    holder = subprocess.Popen(  # a real second coldtier process inside a warm-tier session
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from coldtier_assets.resources.clickhouse import WarmTier\n"
            "with WarmTier(sys.argv[1]).session():\n"
            "    print('holding', flush=True)\n"
            "    time.sleep(600)\n",
            initialized.warm_dsn,
        ],
        env=cli_env(coldtier_env),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        result = run_cli(["status"], coldtier_env, COLDTIER_WARM_LOCK_TIMEOUT_SECONDS="2")
        assert_one_line_failure(result, 1, "stayed locked by another process")
    finally:
        holder.kill()
        holder.wait()


def test_bad_sql_in_query(initialized: Settings, coldtier_env: dict[str, str]) -> None:
    result = run_cli(["query", "SELECT count( FROM silver_trades"], coldtier_env)
    assert_one_line_failure(result, 1, "syntax error in the query")


def test_unknown_table_in_query(initialized: Settings, coldtier_env: dict[str, str]) -> None:
    result = run_cli(["query", "SELECT * FROM silver_trade"], coldtier_env)
    assert_one_line_failure(result, 1, "unknown table", "silver_trades")


def test_rejected_query(initialized: Settings, coldtier_env: dict[str, str]) -> None:
    result = run_cli(["query", "DROP TABLE silver_trades"], coldtier_env)
    assert_one_line_failure(result, 1, "only SELECT queries")


def test_bad_option(coldtier_env: dict[str, str]) -> None:
    result = run_cli(["status", "--no-such-option"], coldtier_env)
    assert_one_line_failure(result, 2, "No such option: --no-such-option", "--help")


def test_bad_option_value(coldtier_env: dict[str, str]) -> None:
    result = run_cli(["verify", "--since", "yesterday"], coldtier_env)
    assert_one_line_failure(result, 2, "not an ISO 8601 date/time: 'yesterday'")


def test_debug_shows_the_traceback_redacted(coldtier_env: dict[str, str]) -> None:
    dsn = f"http://default:pw-debug@127.0.0.1:{free_port()}/default"
    result = run_cli(["--debug", "status"], coldtier_env, COLDTIER_WARM_DSN=dsn)
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "WarmTierUnavailableError" in result.stderr
    assert "pw-debug" not in result.stderr
    by_variable = run_cli(["status"], coldtier_env, COLDTIER_WARM_DSN=dsn, COLDTIER_DEBUG="1")
    assert "Traceback" in by_variable.stderr


def test_status_names_its_last_column(initialized: Settings, coldtier_env: dict[str, str]) -> None:
    result = run_cli(["status"], coldtier_env)
    assert result.returncode == 0, result.stderr
    assert "last check" in result.stdout


def test_query_renders_values_literally(initialized: Settings, coldtier_env: dict[str, str]) -> None:
    result = run_cli(["query", "SELECT '[/x]' AS closing, '[bold]b[/bold]' AS styled"], coldtier_env)
    assert result.returncode == 0, result.stderr
    assert "[/x]" in result.stdout and "[bold]b[/bold]" in result.stdout
