"""Unattended end to end: the real Dagster daemon and webserver, a live feed, 1-minute windows.

Nothing is triggered by hand: the sensors copy every closed window, the checks run in the same
runs, the daemon is SIGKILLed mid-way and restarted, and afterwards every window is in the cold
tier exactly once. Then headless Chromium (Debian's /usr/bin/chromium driven by Playwright) opens
the UI: lineage ClickHouse → Bronze → Silver → Gold, partitions, passing checks, freshness;
screenshots are saved under the test's output directory. The same facts are asserted through
Dagster's GraphQL API.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from playwright.sync_api import Page

from coldtier_assets.cli.devserver import (
    daemon_command,
    start_process,
    stop_process,
    wait_for_webserver,
    webserver_command,
)
from coldtier_assets.cli.instance import prepare_dagster_home
from coldtier_assets.config import Settings, load_settings
from coldtier_assets.defs.checks.asset_checks import check_names
from coldtier_assets.defs.partitions import PARTITION_FORMAT
from coldtier_assets.offload.bootstrap import init_all
from coldtier_assets.offload.sink import PREFIX, read_ledger
from coldtier_assets.offload.windows import closed_window_end
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.resources.iceberg import open_catalog
from coldtier_assets.simulate.feed import simulate_history
from coldtier_assets.tables import TABLES, TableSpec

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]
LATENESS = 15
#: How long the sensors may take to catch up (raise it on a machine shared by many test runs).
CATCH_UP_SECONDS = float(os.environ.get("COLDTIER_TEST_CATCH_UP_SECONDS", "420"))
#: Tables whose windows close during the test (1-minute base window); 30m/1h/1d close on their own clock.
SHORT = [spec for spec in TABLES if spec.candle_seconds <= 900]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    """The running system under test."""

    settings: Settings
    env: dict[str, str]
    url: str
    out: Path
    started: datetime
    daemon_restarts: int = 0


def _graphql(url: str, query: str) -> dict[str, object]:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        payload = json.loads(response.read())
    assert "errors" not in payload, payload
    return payload["data"]


def _lagging(settings: Settings, now: datetime) -> dict[str, str]:
    """Tables whose watermark is behind the latest closed window (one window of slack for runs in flight)."""
    catalog = open_catalog(settings)
    behind = {}
    for spec in SHORT:
        length = spec.window(settings.window)
        due = closed_window_end(now, length, settings.allowed_lateness) - length
        watermark = read_ledger(catalog.load_table((settings.namespace, spec.name))).watermark
        if watermark is None or watermark < due:
            behind[spec.name] = str(watermark)
    return behind


def _wait_caught_up(stack: Stack, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    behind: dict[str, str] = {}
    while time.monotonic() < deadline:
        behind = _lagging(stack.settings, datetime.now(UTC))
        if not behind:
            return
        time.sleep(5)
    log_file = stack.settings.home / "logs" / "daemon.log"
    logs = log_file.read_text()[-3000:] if log_file.exists() else "(no daemon log)"
    raise AssertionError(f"not caught up after {timeout:.0f} s: {behind}\n--- daemon log ---\n{logs}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("unattended")
    now = datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    env = {
        **os.environ,
        "COLDTIER_HOME": str(home / "coldtier"),
        "DAGSTER_HOME": str(home / "coldtier" / "dagster_home"),
        "COLDTIER_WINDOW_MINUTES": "1",
        "COLDTIER_ALLOWED_LATENESS_SECONDS": str(LATENESS),
        "COLDTIER_START": (today - timedelta(days=1)).date().isoformat(),
        "COLDTIER_FIRST_COPY_LOOKBACK_HOURS": "1",
    }
    settings = load_settings(env)
    warm = WarmTier(settings.warm_dsn)
    init_all(warm, open_catalog(settings), settings.namespace)
    history_end = now.replace(second=0, microsecond=0)
    simulate_history(warm, history_end - timedelta(minutes=20), history_end, seed=17, trades_per_second=5)
    os.environ["DAGSTER_HOME"] = env["DAGSTER_HOME"]
    prepare_dagster_home(settings)
    logs = settings.home / "logs"
    feed = start_process(
        [
            sys.executable,
            "-m",
            "coldtier_assets.cli.main",
            "simulate",
            "--live",
            "--rate",
            "5",
            "--seed",
            "3",
            "--interval",
            "2",
        ],
        env,
        logs / "feed.log",
    )
    port = _free_port()
    webserver = start_process(webserver_command(port), env, logs / "webserver.log")
    daemon = start_process(daemon_command(), env, logs / "daemon.log")
    out = Path(os.environ.get("COLDTIER_TEST_ARTIFACTS", "test-artifacts")).resolve() / "unattended"
    out.mkdir(parents=True, exist_ok=True)
    stack = Stack(settings, env, f"http://127.0.0.1:{port}", out, now)
    try:
        wait_for_webserver(stack.url, webserver)
        _wait_caught_up(stack, timeout=CATCH_UP_SECONDS)
        os.kill(daemon.pid, signal.SIGKILL)  # the daemon process dies mid-way (its runs carry on) ...
        time.sleep(150)  # ... while windows keep closing
        assert _lagging(settings, datetime.now(UTC)), "windows should have piled up while the daemon was down"
        daemon = start_process(daemon_command(), env, logs / "daemon.log")
        stack.daemon_restarts += 1
        _wait_caught_up(stack, timeout=CATCH_UP_SECONDS)
        stop_process(feed)
        yield stack  # the daemon keeps running: the assertions see the system as it is
    finally:
        for process in (daemon, webserver, feed):
            stop_process(process, kill=True)


def _window_commits(stack: Stack, spec: TableSpec) -> Counter[str]:
    table = open_catalog(stack.settings).load_table((stack.settings.namespace, spec.name))
    starts: Counter[str] = Counter()
    for snapshot in table.metadata.snapshots:
        props = snapshot.summary.additional_properties if snapshot.summary else {}
        if (
            props.get(PREFIX + "window-start")
            and snapshot.summary
            and snapshot.summary.operation.value == "append"
        ):
            starts[props[PREFIX + "window-start"]] += 1
    return starts


def test_every_window_copied_once_despite_the_daemon_kill(stack: Stack) -> None:
    catalog = open_catalog(stack.settings)
    for spec in SHORT:
        ledger = read_ledger(catalog.load_table((stack.settings.namespace, spec.name)))
        assert len(ledger.ranges) == 1, f"{spec.name}: gaps in {ledger.ranges}"  # nothing missed
        twice = {start: n for start, n in _window_commits(stack, spec).items() if n > 1}
        assert not twice, f"{spec.name}: windows committed more than once: {twice}"  # nothing copied twice


_ASSET_NODES = """{ assetNodes(group: null) { assetKey { path } kinds dependencyKeys { path }
              freshnessStatusInfo { freshnessStatus }
              partitionStats { numMaterialized numFailed }
              assetChecksOrError { ... on AssetChecks {
                  checks { name executionForLatestMaterialization { status } } } } } }"""


def _check_statuses(node: dict[str, Any]) -> dict[str, str | None]:
    return {
        c["name"]: (c["executionForLatestMaterialization"] or {}).get("status")
        for c in node["assetChecksOrError"]["checks"]
    }


_RUNS_IN_FLIGHT = """{ runsOrError(filter: {statuses: [QUEUED, NOT_STARTED, STARTING, STARTED]}) {
              ... on Runs { results { runId } } } }"""


def _asset_nodes(stack: Stack, settle_seconds: float = 180) -> dict[str, dict[str, Any]]:
    """The asset nodes once the system has settled, or as they are after ``settle_seconds``.

    Settled: no run in flight, no short table whose latest checks are all still running, and no
    failed partition. A partition fails when the daemon is killed while it launches the partition's
    run (the run never starts: Dagster's run monitoring fails it after its start timeout); the
    sensors then copy the window again, so a failed partition must be repaired within the wait.
    """
    deadline = time.monotonic() + settle_seconds
    while True:
        data = _graphql(stack.url, _ASSET_NODES)
        nodes = {"/".join(node["assetKey"]["path"]): node for node in data["assetNodes"]}  # type: ignore[index]
        unsettled = [
            spec.name
            for spec in SHORT
            if f"cold/{spec.name}" in nodes
            and (
                "SUCCEEDED" not in _check_statuses(nodes[f"cold/{spec.name}"]).values()
                or nodes[f"cold/{spec.name}"]["partitionStats"]["numFailed"]
            )
        ]
        in_flight = _graphql(stack.url, _RUNS_IN_FLIGHT)["runsOrError"]["results"]  # type: ignore[index]
        if (not unsettled and not in_flight) or time.monotonic() > deadline:
            return nodes
        time.sleep(5)


def test_every_check_passed_and_nothing_is_stale_graphql(stack: Stack) -> None:
    nodes = _asset_nodes(stack)
    assert {"clickhouse/silver_trades", "cold/silver_trades", "cold/gold_ohlcv_1h"} <= set(nodes)
    assert nodes["cold/silver_trades"]["kinds"] == ["iceberg"] and nodes["clickhouse/silver_trades"][
        "kinds"
    ] == ["clickhouse"]
    silver_deps = {"/".join(dep["path"]) for dep in nodes["cold/silver_trades"]["dependencyKeys"]}
    assert silver_deps == {"clickhouse/silver_trades"} | {
        f"cold/bronze_trades_{x}" for x in ("binance", "kraken", "coinbase")
    }
    assert {"/".join(d["path"]) for d in nodes["cold/gold_ohlcv_1m"]["dependencyKeys"]} == {
        "clickhouse/gold_ohlcv_1m",
        "cold/silver_trades",
    }
    for spec in SHORT:
        node = nodes[f"cold/{spec.name}"]
        assert node["partitionStats"]["numMaterialized"] > 0 and node["partitionStats"]["numFailed"] == 0, (
            spec.name
        )
        statuses = _check_statuses(node)
        # a run copying the newest window may be under way: its checks are then still in progress
        assert set(statuses.values()) <= {"SUCCEEDED", "IN_PROGRESS"} and "SUCCEEDED" in statuses.values(), (
            spec.name,
            statuses,
        )
        assert node["freshnessStatusInfo"]["freshnessStatus"] not in ("WARN", "FAIL"), spec.name
    failed = _graphql(
        stack.url,
        "{ runsOrError(filter: {statuses: [FAILURE]}) { ... on Runs { results { runId tags { key value } } } } }",
    )
    for run in failed["runsOrError"]["results"]:  # type: ignore[index]
        # only a run the killed daemon was launching may have failed: it never started (see _asset_nodes)
        tags = {tag["key"]: tag["value"] for tag in run["tags"]}
        assert tags.get("dagster/failure_reason") == "START_TIMEOUT", (run["runId"], tags)


CHECKS = ("warm_cold_consistency", "no_duplicate_keys", "schema_matches_ddl")
CONTENT_TIMEOUT = 90_000


@pytest.fixture(scope="module")
def page(stack: Stack) -> Iterator[Page]:
    """Headless Chromium on the running UI (one browser for the module's UI tests)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
        browser.close()


def _settle(page: Page, expect: str) -> None:
    """Wait for content (the UI polls while the daemon runs, so the network is never idle)."""
    skip = page.get_by_role("button", name="Skip")  # Dagster's first-visit newsletter dialog
    page.get_by_text(expect).first.wait_for(timeout=CONTENT_TIMEOUT)
    page.wait_for_timeout(2500)
    if skip.count():  # the dialog can open after the content: dismiss it, then wait again
        skip.click()
        page.get_by_text(expect).first.wait_for(timeout=CONTENT_TIMEOUT)
        page.wait_for_timeout(1000)


def _visit(stack: Stack, page: Page, path: str, name: str, expect: str) -> str:
    page.goto(f"{stack.url}{path}", wait_until="domcontentloaded", timeout=CONTENT_TIMEOUT)
    _settle(page, expect)
    page.screenshot(path=str(stack.out / f"{name}.png"))
    return page.inner_text("body")


def _line_after(lines: list[str], name: str) -> str:
    """The first line after ``name`` that is not ``name`` again (truncated names render twice)."""
    index = lines.index(name)
    while index < len(lines) - 1 and lines[index] == name:
        index += 1
    return lines[index]


def _check_list(page: Page, names: tuple[str, ...]) -> dict[str, str]:
    """The Checks tab's left-hand list as the user reads it: check name -> status line.

    Sensor runs keep copying newly closed (empty) windows, so a check can be "In progress" for a
    moment: reload a few times until the list settles.
    """
    listed: dict[str, str] = {}
    for _ in range(6):
        lines = [line.strip() for line in page.inner_text("body").splitlines() if line.strip()]
        # the status line is CSS-capitalized: "Succeeded", "In Progress", "Skipped", "Failed"
        listed = {name: _line_after(lines, name).lower() for name in names if name in lines}
        if set(listed.values()) == {"succeeded"} and len(listed) == len(names):
            break
        page.wait_for_timeout(5000)
        page.reload(wait_until="domcontentloaded")
        page.get_by_text(names[0]).first.wait_for(timeout=CONTENT_TIMEOUT)
        page.wait_for_timeout(2500)
    assert set(listed) == set(names), listed
    assert set(listed.values()) <= {"succeeded", "in progress"}, listed  # never "skipped" or "failed"
    return listed


def test_browser_shows_lineage_partitions_checks_and_freshness(stack: Stack, page: Page) -> None:
    lineage = _visit(
        stack,
        page,
        "/assets/cold/gold_ohlcv_1m?view=lineage&lineageScope=upstream&lineageDepth=4",
        "lineage",
        "silver_trades",
    )
    for label in ("warm", "bronze", "silver", "gold", "silver_trades", "gold_ohlcv_1m"):
        assert label in lineage, label
    overview = _visit(stack, page, "/assets/cold/silver_trades", "silver_overview", "canonical BASE/QUOTE")
    assert "Partitions" in overview and "iceberg" in overview.lower()
    assert "in windows of 1 minute of" in overview  # descriptions in words, not 0:01:00
    assert "taker side: buy | sell" in overview  # column docs carried from ddl/
    page.screenshot(path=str(stack.out / "silver_overview_full.png"), full_page=True)
    partitions = _visit(
        stack, page, "/assets/cold/silver_trades?view=partitions", "silver_partitions", "Materialized"
    )
    assert "Materialized" in partitions
    _visit(stack, page, "/assets/cold/silver_trades?view=checks", "silver_checks", CHECKS[0])
    # every check in the list reads "Succeeded" (Dagster 1.13 showed "Skipped" for range runs)
    _check_list(page, CHECKS)
    page.screenshot(path=str(stack.out / "silver_checks.png"))
    assert "Skipped" not in page.inner_text("body") and "Failed" not in page.inner_text("body")
    # wait for the overview's own content: the asset's name is in the header while it still loads
    freshness = _visit(stack, page, "/assets/cold/gold_ohlcv_1m", "gold_overview", "Freshness policy")
    assert "Freshness" in freshness or "fresh" in freshness.lower()
    assert len(list(stack.out.glob("*.png"))) >= 6


def test_user_materializes_one_gold_partition_by_clicking(stack: Stack, page: Page) -> None:
    """Materialize -> pick one partition -> Launch 1 run -> View: the run succeeds, checks pass."""
    spec = next(spec for spec in TABLES if spec.name == "gold_ohlcv_1m")
    ledger = read_ledger(open_catalog(stack.settings).load_table((stack.settings.namespace, spec.name)))
    assert ledger.watermark is not None
    key = (ledger.watermark - timedelta(minutes=5)).strftime(PARTITION_FORMAT)
    _visit(stack, page, "/assets/cold/gold_ohlcv_1m", "gold_before_materialize", "gold_ohlcv_1m")
    page.locator("button", has_text="Materialize").first.click()
    page.get_by_text("Launch runs to materialize").wait_for(timeout=CONTENT_TIMEOUT)
    partition_input = page.get_by_placeholder(re.compile(r"^ex: |No matching partitions"))
    partition_input.fill(key)
    partition_input.press("Enter")
    launch = page.get_by_role("button", name="Launch 1 run")
    launch.wait_for(timeout=CONTENT_TIMEOUT)
    page.screenshot(path=str(stack.out / "gold_materialize_dialog.png"))
    launch.click()
    page.get_by_text("Launched run").wait_for(timeout=CONTENT_TIMEOUT)
    page.get_by_text("Launched run").locator(
        "xpath=ancestor::*[.//a[normalize-space()='View']][1]"
    ).get_by_role("link", name="View", exact=True).click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]+"), timeout=CONTENT_TIMEOUT)
    run_id = page.url.split("/runs/")[1].split("?")[0]
    page.get_by_text("Success", exact=True).first.wait_for(timeout=3 * CONTENT_TIMEOUT)
    _settle(page, "Success")
    page.screenshot(path=str(stack.out / "gold_run_succeeded.png"))

    partition = _visit(
        stack, page, f"/assets/cold/gold_ohlcv_1m?view=partitions&partition={key}", "gold_partition", key
    )
    assert "Materialized" in partition and run_id[:8] in partition, (key, run_id)
    _visit(stack, page, "/assets/cold/gold_ohlcv_1m?view=checks", "gold_checks", CHECKS[0])
    _check_list(page, (*CHECKS, "candles_match_silver"))
    page.screenshot(path=str(stack.out / "gold_checks.png"))
    run = _graphql(
        stack.url, f'{{ runOrError(runId: "{run_id}") {{ ... on Run {{ status tags {{ key value }} }} }} }}'
    )
    assert run["runOrError"]["status"] == "SUCCESS", run  # type: ignore[index]
    assert {"key": "dagster/partition", "value": key} in run["runOrError"]["tags"]  # type: ignore[index]
    with dg.DagsterInstance.get() as instance:  # the partition's own check results, from this run
        keys = [dg.AssetCheckKey(dg.AssetKey(["cold", spec.name]), name) for name in check_names(spec)]
        infos = instance.event_log_storage.get_asset_check_partition_info(keys, partition_keys=[key])
    assert {(i.check_key.name, i.latest_execution_status.value, i.latest_planned_run_id) for i in infos} == {
        (name, "SUCCEEDED", run_id) for name in check_names(spec)
    }
