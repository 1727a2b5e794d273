"""Checks, verify and the maintenance audit read the metadata file the catalog points to, nothing newer.

A losing or unknown-outcome commit leaves a metadata file with a higher version number in the
table's ``metadata/`` folder; ClickHouse's ``icebergLocal('<dir>')`` would read the newest one. Real
chDB, a real SQLite catalog, real pyiceberg metadata files copied as such a commit leaves them.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from coldtier_assets.defs.assets.keys import cold_key
from coldtier_assets.defs.checks.asset_checks import check_names, evaluate_checks
from coldtier_assets.defs.resources import ColdtierResource
from coldtier_assets.maintenance.audit import audit_table, fingerprints
from coldtier_assets.offload.verify import verify_windows
from coldtier_assets.offload.windows import Window, split_windows
from coldtier_assets.simulate.feed import simulate_history
from coldtier_assets.tables import TABLES, TableSpec, get_table
from coldtier_assets_tests.maintenance_fixtures import FEED_END, FEED_START, Coldtier, make_coldtier

SILVER, GOLD = get_table("silver_trades"), get_table("gold_ohlcv_1h")
SPAN = Window(FEED_START, FEED_END)


@pytest.fixture
def coldtier(coldtier_env: dict[str, str]) -> Iterator[Coldtier]:
    """Two hours of trades, every Bronze and Silver window and the hourly candles copied."""
    env = make_coldtier(coldtier_env)
    simulate_history(env.warm, FEED_START, FEED_END, seed=11, trades_per_second=2)
    offloader = env.offloader()
    middle = FEED_START + (FEED_END - FEED_START) / 2  # two commits each: a catch-up commits as one batch
    for spec in [*(s for s in TABLES if s.layer == "bronze"), SILVER, GOLD]:
        for start, end in ((FEED_START, middle), (middle, FEED_END)):
            offloader.offload(spec, start, end, run_id="stray-test")
    yield env


def leave_stray_metadata(env: Coldtier, spec: TableSpec) -> Path:
    """Copy an older metadata file under the next version number, as a losing commit leaves one."""
    table = env.table(spec)
    older = table.metadata.metadata_log[1].metadata_file  # after the table's first window commit
    current = Path(table.metadata_location.removeprefix("file://"))
    version = int(current.name.split("-", 1)[0])
    stray = current.parent / f"{version + 1:05d}-{uuid.uuid4()}.metadata.json"
    shutil.copyfile(older.removeprefix("file://"), stray)
    return stray


def outcomes(env: Coldtier) -> dict[str, object]:
    """Every check, verify and audit figure that reads the cold files."""
    resource = ColdtierResource.from_settings(env.settings)
    results: dict[str, object] = {}
    for spec in (SILVER, GOLD):
        keys = {dg.AssetCheckKey(cold_key(spec), name) for name in check_names(spec)}
        for result in evaluate_checks(keys, resource, spec, SPAN):
            results[f"{spec.name}.{result.check_name}"] = (result.passed, str(result.metadata))
        windows = split_windows(SPAN.start, SPAN.end, spec.window(env.settings.window))
        checks = verify_windows(env.settings, env.warm, env.table(spec), spec, windows)
        results[f"{spec.name}.verify"] = [(c.verdict, c.cold_rows, c.cold_checksum) for c in checks]
    table = env.table(SILVER)
    current = table.current_snapshot()
    assert current is not None
    before = fingerprints(env.settings, env.warm, table, SILVER, [current.snapshot_id])[current.snapshot_id]
    results["audit.fingerprint"] = before
    results["audit.result"] = audit_table(env.settings, env.warm, table, SILVER, before).message
    return results


def test_a_stray_newer_metadata_file_changes_no_check_verify_or_audit_result(coldtier: Coldtier) -> None:
    env = coldtier
    before = outcomes(env)
    assert before["silver_trades.warm_cold_consistency"][0] is True  # type: ignore[index]
    assert before["gold_ohlcv_1h.candles_match_silver"][0] is True  # type: ignore[index]
    for spec in (SILVER, GOLD):
        leave_stray_metadata(env, spec)
    assert outcomes(env) == before
