"""Monitoring: promtool over the alert rules, the exporter over real tiers, the dashboard and runbooks.

One embedded coldtier for the module (real chDB, SQLite catalog, a real Dagster instance with
materializations, check evaluations and failed runs recorded in it, and a maintenance_audit_log),
served by a real exporter on 127.0.0.1 and scraped over HTTP.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy
import yaml
from dagster._core.events import DagsterEvent, DagsterEventType
from prometheus_client.parser import text_string_to_metric_families
from pyiceberg.catalog import Catalog

from coldtier_assets.config import Settings, load_settings
from coldtier_assets.metrics import exposed_names, serve
from coldtier_assets.offload.bootstrap import init_all
from coldtier_assets.offload.pipeline import Offloader
from coldtier_assets.offload.status import collect_status
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.resources.iceberg import open_catalog, sqlalchemy_uri
from coldtier_assets.simulate.feed import simulate_history
from coldtier_assets.tables import get_table
from coldtier_assets_tests.fixtures import DAY, embedded_env

OPS = Path(__file__).resolve().parents[2] / "ops"
START = DAY + timedelta(hours=23)
COPIED_UNTIL = START + timedelta(minutes=30)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass(frozen=True)
class Env:
    settings: Settings
    warm: WarmTier
    catalog: Catalog


def _metrics(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=120) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _served_names(url: str) -> set[str]:
    with urllib.request.urlopen(url, timeout=120) as response:
        text = response.read().decode()
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")} | {
        line.split("{")[0].split()[0] for line in text.splitlines() if line and not line.startswith("#")
    }


def _value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def _record_dagster_history(settings: Settings) -> None:
    """What the offload jobs and checks leave in the Dagster instance, recorded directly."""
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    (settings.dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    instance = dg.DagsterInstance.from_config(str(settings.dagster_home))
    silver = dg.AssetKey(["cold", "silver_trades"])
    for partition, rows in (("2026-11-24-23:00", 1200), ("2026-11-24-23:15", 800)):
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key=silver,
                partition=partition,
                metadata={"rows": rows, "bytes": rows * 10, "duration_s": 0.5},
            )
        )
    evaluations = [  # (run, check, partition, passed): 23:00 failed, then healed by a later run
        ("run-1", "warm_cold_consistency", "2026-11-24-23:00", False),
        ("run-1", "no_duplicate_keys", "2026-11-24-23:00", True),
        ("run-2", "warm_cold_consistency", "2026-11-24-23:15", False),
        ("run-3", "warm_cold_consistency", "2026-11-24-23:00", True),
    ]
    for run_id, check, partition, passed in evaluations:
        evaluation = dg.AssetCheckEvaluation(
            asset_key=silver, check_name=check, passed=passed, partition=partition
        )
        instance.report_dagster_event(
            DagsterEvent(
                event_type_value=DagsterEventType.ASSET_CHECK_EVALUATION.value,
                event_specific_data=evaluation,
                job_name="offload_15m",
            ),
            run_id=run_id,
        )
    instance.add_run(
        dg.DagsterRun(job_name="offload_15m", run_id="failed-15m", status=dg.DagsterRunStatus.FAILURE)
    )
    instance.add_run(
        dg.DagsterRun(
            job_name="offload_1h",
            run_id="failed-1h",
            status=dg.DagsterRunStatus.FAILURE,
            asset_selection=frozenset({dg.AssetKey(["cold", "gold_ohlcv_1h"])}),
        )
    )
    instance.add_run(
        dg.DagsterRun(job_name="offload_15m", run_id="ok-15m", status=dg.DagsterRunStatus.SUCCESS)
    )
    instance.dispose()


def _create_maintenance_log(settings: Settings) -> None:
    """Rows in the audit table another module writes (the offload already created it; else created here)."""
    engine = sqlalchemy.create_engine(sqlalchemy_uri(settings.catalog_uri))
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text(
                "CREATE TABLE IF NOT EXISTS maintenance_audit_log (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                "table_name TEXT, action TEXT, started_at TIMESTAMP, duration_seconds REAL, files_before INTEGER, "
                "files_after INTEGER, bytes_before INTEGER, bytes_after INTEGER, rows_before INTEGER, "
                "rows_after INTEGER, outcome TEXT, message TEXT)"
            )
        )
        rows = [
            ("cold.silver_trades", "compact", "2026-11-25 02:00:00", 12.5, 96, 1, "success"),
            ("cold.silver_trades", "compact", "2026-11-26 02:00:00", 3.0, 90, 90, "failed"),
            ("cold.silver_trades", "expire_snapshots", "2026-11-26 02:01:00", 1.0, 90, 90, "success"),
            ("cold.gold_ohlcv_1d", "compact", "2026-11-26 02:02:00", 0.1, 1, 1, "skipped"),
        ]
        for table, action, started, seconds, before, after, outcome in rows:
            connection.execute(
                sqlalchemy.text(
                    "INSERT INTO maintenance_audit_log (table_name, action, started_at, duration_seconds, "
                    "files_before, files_after, bytes_before, bytes_after, rows_before, rows_after, outcome, message) "
                    "VALUES (:t, :a, :s, :d, :fb, :fa, 1000, 900, 50, 50, :o, '')"
                ),
                {
                    "t": table,
                    "a": action,
                    "s": started,
                    "d": seconds,
                    "fb": before,
                    "fa": after,
                    "o": outcome,
                },
            )
    engine.dispose()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    home = tmp_path_factory.mktemp("monitoring") / "coldtier"
    settings = load_settings(embedded_env(home))
    warm = WarmTier(settings.warm_dsn)
    catalog = open_catalog(settings)
    init_all(warm, catalog, settings.namespace)
    simulate_history(warm, START, START + timedelta(hours=1), seed=9, trades_per_second=3)
    warm.command(  # one trade the Silver view rejects (price 0): quarantined in rejected_trades
        "INSERT INTO bronze_trades_kraken (pair, price, volume, time, side, order_type, misc, trade_id) "
        f"VALUES ('XBT/USD', 0, 1, '{START + timedelta(minutes=5):%Y-%m-%d %H:%M:%S}', 'b', 'm', '', 999999)"
    )
    offloader = Offloader(settings, warm, lambda: open_catalog(settings))
    for name in ("silver_trades", "bronze_trades_kraken"):
        offloader.offload(get_table(name), START, COPIED_UNTIL, run_id="test")
    yield Env(settings, warm, catalog)


def test_promtool_checks_and_tests_the_alert_rules() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool missing: apt-get install prometheus (make test installs it)")
    rules = OPS / "prometheus"
    for command in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"]):
        result = subprocess.run([promtool, *command], cwd=rules, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_exporter_serves_status_dagster_and_maintenance_figures(env: Env) -> None:
    exporter = serve(env.settings, 0, "127.0.0.1", cache_seconds=0)
    try:
        before = _metrics(exporter.url)  # no Dagster instance, no maintenance run yet: both tolerated
        assert not any(name.startswith("coldtier_offload_") for name, _ in before)
        # the offload's purge guard reads the audit log (days retention dropped), creating it empty
        assert _value(before, "coldtier_maintenance_audit_log_present") == 1
        assert not any(name.startswith("coldtier_maintenance_runs") for name, _ in before)
        assert _value(before, "coldtier_exporter_up") == 1

        _record_dagster_history(env.settings)
        _create_maintenance_log(env.settings)
        samples = _metrics(exporter.url)
        statuses = collect_status(env.warm, env.catalog, env.settings.namespace, datetime.now(UTC))
    finally:
        exporter.shutdown()

    # per table, the same figures as `coldtier status`; the rejected trade counts for its Bronze table
    rejected = {status.table: status.rejected for status in statuses}
    assert (
        rejected["bronze_trades_kraken"],
        rejected["bronze_trades_binance"],
        rejected["rejected_trades"],
    ) == (
        1,
        0,
        1,
    )
    for status in statuses:
        table = {"table": status.table, "layer": status.layer}
        assert _value(samples, "coldtier_table_rows", **table, tier="warm") == status.warm_rows
        assert _value(samples, "coldtier_table_rows", **table, tier="cold") == status.cold_rows
        assert _value(samples, "coldtier_table_data_files", **table) == status.files
        assert _value(samples, "coldtier_table_snapshots", **table) == status.snapshots
        assert _value(samples, "coldtier_table_rejected_trades", **table) == status.rejected
        watermark = _value(samples, "coldtier_table_watermark_timestamp_seconds", **table)
        lag = _value(samples, "coldtier_table_lag_seconds", **table)
        if status.watermark is None:
            assert watermark is None and lag is None
        else:
            assert status.lag is not None and lag is not None
            assert watermark == status.watermark.timestamp()
            assert abs(lag - status.lag.total_seconds()) < 600  # both are "now - watermark"
    copied = {status.table for status in statuses if status.watermark}
    assert copied == {"silver_trades", "bronze_trades_kraken"}
    silver = {"table": "silver_trades", "layer": "silver"}
    assert _value(samples, "coldtier_table_watermark_timestamp_seconds", **silver) == COPIED_UNTIL.timestamp()
    assert (_value(samples, "coldtier_table_rows", **silver, tier="cold") or 0) > 0
    overdue = _value(samples, "coldtier_table_overdue_seconds", **silver)
    assert overdue is not None and overdue > 0  # nothing after 23:30 of a past day was copied

    # Dagster: materialization metadata, failed runs per job and per table, latest check evaluations
    assert _value(samples, "coldtier_offload_rows_copied_total", **silver) == 2000
    assert _value(samples, "coldtier_offload_bytes_copied_total", **silver) == 20000
    assert _value(samples, "coldtier_offload_materializations_total", **silver) == 2
    assert _value(samples, "coldtier_offload_rows_copied_total", table="gold_ohlcv_1d", layer="gold") == 0
    assert _value(samples, "coldtier_dagster_runs_failed_total", dagster_job="offload_15m") == 1
    assert _value(samples, "coldtier_dagster_runs_failed_total", dagster_job="offload_1h") == 1
    assert _value(samples, "coldtier_offload_runs_failed_total", **silver) == 1  # by the job's tables
    assert _value(samples, "coldtier_offload_runs_failed_total", table="gold_ohlcv_1h", layer="gold") == 1
    assert _value(samples, "coldtier_offload_runs_failed_total", table="gold_ohlcv_1d", layer="gold") == 0
    consistency = {**silver, "check": "warm_cold_consistency"}
    assert _value(samples, "coldtier_check_failed_partitions", **consistency) == 1  # 23:00 healed, 23:15 not
    assert _value(samples, "coldtier_check_evaluated_partitions", **consistency) == 2
    assert _value(samples, "coldtier_check_failed_partitions", **silver, check="no_duplicate_keys") == 0
    assert _value(samples, "coldtier_checks_failed", **silver) == 1
    assert _value(samples, "coldtier_checks_failed", table="gold_ohlcv_1h", layer="gold") == 0

    # maintenance: the latest row per (table, action)
    compact = {"table": "silver_trades", "action": "compact"}
    assert _value(samples, "coldtier_maintenance_audit_log_present") == 1
    assert _value(samples, "coldtier_maintenance_last_success", **compact) == 0
    assert _value(samples, "coldtier_maintenance_last_outcome", **compact, outcome="failed") == 1
    assert _value(samples, "coldtier_maintenance_last_outcome", **compact, outcome="success") is None
    assert (
        _value(samples, "coldtier_maintenance_last_success", table="silver_trades", action="expire_snapshots")
        == 1
    )
    assert _value(samples, "coldtier_maintenance_last_run_timestamp_seconds", **compact) == (
        datetime(2026, 11, 26, 2, tzinfo=UTC).timestamp()
    )
    assert _value(samples, "coldtier_maintenance_last_files", **compact, stage="before") == 90
    assert _value(samples, "coldtier_maintenance_runs_total", **compact, outcome="success") == 1
    assert _value(samples, "coldtier_maintenance_last_success", table="gold_ohlcv_1d", action="compact") == 0

    assert _value(samples, "coldtier_exporter_up") == 1
    for source in ("catalog", "warm", "dagster", "maintenance"):
        assert _value(samples, "coldtier_exporter_source_up", source=source) == 1


def test_a_busy_warm_tier_leaves_the_cold_figures(env: Env) -> None:
    exporter = serve(env.settings, 0, cache_seconds=0, warm_lock_timeout_seconds=0.5)
    try:
        with env.warm.session():  # another process's long query holds the chDB lock
            samples = _metrics(exporter.url)
    finally:
        exporter.shutdown()
    silver = {"table": "silver_trades", "layer": "silver"}
    assert _value(samples, "coldtier_exporter_source_up", source="warm") == 0
    assert _value(samples, "coldtier_exporter_source_up", source="catalog") == 1
    assert _value(samples, "coldtier_exporter_up") == 0
    assert _value(samples, "coldtier_table_rows", **silver, tier="warm") is None
    assert (_value(samples, "coldtier_table_rows", **silver, tier="cold") or 0) > 0
    assert _value(samples, "coldtier_table_watermark_timestamp_seconds", **silver) == COPIED_UNTIL.timestamp()


_PROMQL_WORDS = {
    # functions, aggregations and keywords used in ops/ (anything else must be a served metric)
    "sum", "max", "min", "count", "avg", "rate", "increase", "time", "vector", "absent", "by", "without",
    "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "label_values", "bool",
}  # fmt: skip


def _metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (label matchers, ranges, strings and by-clauses removed)."""
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"|'[^']*'", " ", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"label_values\(\s*([A-Za-z_:][\w:]*)\s*,\s*\w+\s*\)", r" \1 ", expr)
    words = set(re.findall(r"(?<![\w.$])[A-Za-z_:][\w:]*(?![\w(])", expr))
    return {word for word in words if word not in _PROMQL_WORDS}


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads((OPS / "grafana" / "coldtier.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    exprs += [
        variable["definition"]
        for variable in dashboard["templating"]["list"]
        if variable.get("type") == "query"
    ]
    return exprs


def test_the_dashboard_and_rules_use_only_served_metrics(env: Env) -> None:
    exporter = serve(env.settings, 0, cache_seconds=0)
    try:
        served = _served_names(exporter.url)
    finally:
        exporter.shutdown()
    assert exposed_names() <= served  # every family is served, with or without samples
    exprs = _dashboard_exprs()
    assert len(exprs) >= 20
    used = set().union(*(_metric_names(expr) for expr in exprs))
    assert used and used <= served, used - served
    for wanted in (
        "coldtier_table_lag_seconds",
        "coldtier_offload_rows_copied_total",
        "coldtier_table_data_files",
    ):
        assert wanted in used
    for wanted in ("coldtier_table_snapshots", "coldtier_checks_failed", "coldtier_maintenance_last_outcome"):
        assert wanted in used
    rules = yaml.safe_load((OPS / "prometheus" / "alerts.yml").read_text())
    rule_metrics = set().union(
        *(_metric_names(rule["expr"]) for group in rules["groups"] for rule in group["rules"])
    )
    assert rule_metrics - {"up"} <= served, rule_metrics - served


def test_every_alert_has_a_runbook_and_tests() -> None:
    rules = yaml.safe_load((OPS / "prometheus" / "alerts.yml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    names = {rule["alert"] for rule in alerts}
    required = {
        "OffloadFailing", "OffloadLagWarning", "OffloadLagCritical", "ConsistencyMismatch", "MaintenanceFailed",
        "TooManySmallFiles", "TooManySnapshots", "ExporterDown",
    }  # fmt: skip
    assert required <= names
    runbooks = OPS / "runbooks"
    readme = (OPS / "README.md").read_text()
    for rule in alerts:
        url = rule["annotations"]["runbook_url"]
        assert url == f"ops/runbooks/{rule['alert']}.md"
        text = (OPS.parent / url).read_text()
        assert text.startswith(f"# {rule['alert']}\n")
        for section in ("## Symptom", "## Diagnosis", "## Fix", "## Prevention"):
            assert section in text, (url, section)
        assert re.search(r"\b(coldtier|dagster) ", text), url  # real commands to run
        assert f"runbooks/{rule['alert']}.md" in readme
    assert {path.stem for path in runbooks.glob("*.md")} == names

    tests = yaml.safe_load((OPS / "prometheus" / "alerts_test.yml").read_text())
    cases = [case for test in tests["tests"] for case in test["alert_rule_test"]]
    for name in names:
        assert any(case["alertname"] == name and case["exp_alerts"] for case in cases), f"{name} never fires"
        assert any(case["alertname"] == name and not case["exp_alerts"] for case in cases), name
