"""Exactly-once offload against real chDB and a real Iceberg catalog: re-runs, crashes, races."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from pyiceberg.catalog.sql import SqlCatalog

from coldtier_assets.config import Settings
from coldtier_assets.offload.pipeline import Offloader
from coldtier_assets.offload.sink import coldtier_property, read_ledger
from coldtier_assets.offload.source import check_source, warm_checksum
from coldtier_assets.offload.windows import Ledger, Window
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.resources.iceberg import open_catalog
from coldtier_assets.simulate.feed import simulate_history
from coldtier_assets.tables import TABLES, get_table
from coldtier_assets_tests.compare import assert_window_matches
from coldtier_assets_tests.fixtures import DAY

START = DAY + timedelta(hours=22)
H1 = timedelta(hours=1)
M15 = timedelta(minutes=15)


@pytest.fixture
def fed(initialized: Settings, warm: WarmTier) -> Settings:
    """One hour of simulated trades (22:00-23:00) in the warm tier, two of them quarantined."""
    simulate_history(warm, START, START + H1, seed=11, trades_per_second=20)
    warm.command(  # invalid trades (price 0, quantity 0): rejected_trades gets rows to copy too
        "INSERT INTO bronze_trades_coinbase (trade_id, product_id, price, size, side, time) VALUES "
        "(1, 'BTC-USD', 0, 1, 'buy', '2026-11-24 22:05:00'), (2, 'BTC-USD', 90000, 0, 'sell', '2026-11-24 22:40:00')"
    )
    return initialized


def offloader(settings: Settings, warm: WarmTier) -> Offloader:
    return Offloader(settings, warm, lambda: open_catalog(settings))


def _window_of(spec_name: str, settings: Settings) -> tuple[timedelta, timedelta]:
    spec = get_table(spec_name)
    return spec.window(settings.window), spec.window(settings.window)


def test_every_table_twice_and_overlapping_leaves_exactly_the_source_rows(
    fed: Settings, warm: WarmTier, catalog: SqlCatalog
) -> None:
    copier = offloader(fed, warm)
    for spec in TABLES:
        window = spec.window(fed.window)
        start = START - (START - DAY) % window if window >= timedelta(hours=1) else START
        end = start + max(window, H1)
        copier.offload(spec, start, end, run_id="first")
        copier.offload(spec, start, end, run_id="again")  # the same windows again
        if window < H1:
            copier.offload(spec, start + window, end, run_id="overlap")  # overlapping an earlier run
        rows = assert_window_matches(warm, catalog, fed.namespace, spec, start, end)
        assert rows > 0, spec.name
        assert read_ledger(catalog.load_table((fed.namespace, spec.name))).watermark == end


def test_snapshot_summary_records_window_rows_checksum_and_run(
    fed: Settings, warm: WarmTier, catalog: SqlCatalog
) -> None:
    report = offloader(fed, warm).offload(get_table("silver_trades"), START, START + M15, run_id="run-42")
    (result,) = report.results
    table = catalog.load_table((fed.namespace, "silver_trades"))
    snapshot = table.snapshot_by_id(result.snapshot_id)
    assert snapshot is not None
    assert coldtier_property(snapshot, "coldtier.run-id") == "run-42"
    assert coldtier_property(snapshot, "coldtier.source-rows") == str(result.rows)
    assert coldtier_property(snapshot, "coldtier.source-checksum") == result.checksum_hex
    assert coldtier_property(snapshot, "coldtier.window-start") == START.isoformat()
    # the checksum is ClickHouse's own over the warm window
    source = check_source(warm, get_table("silver_trades"), table.schema())
    assert warm_checksum(warm, source, Window(START, START + M15)) == (result.rows, result.checksum)


def test_empty_window_is_committed_as_a_marker(
    initialized: Settings, warm: WarmTier, catalog: SqlCatalog
) -> None:
    report = offloader(initialized, warm).offload(get_table("bronze_trades_kraken"), START, START + H1)
    assert [r.rows for r in report.results] == [0]  # four empty windows, one marker commit
    assert report.watermark == START + H1
    table = catalog.load_table((initialized.namespace, "bronze_trades_kraken"))
    assert table.scan().to_arrow().num_rows == 0


def _child(
    mode: str, table: str, start: str, end: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coldtier_assets_tests.integration.offload_child", mode, table, start, end],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _data_files(catalog: SqlCatalog, settings: Settings, table: str) -> set[Path]:
    location = catalog.load_table((settings.namespace, table)).location().removeprefix("file://")
    return set((Path(location) / "data").rglob("*.parquet"))


@pytest.mark.parametrize(
    ("mode", "batch_windows"),
    [("kill-before-commit", 96), ("kill-after-commit", 96), ("kill-after-commit", 2)],
)
def test_sigkilled_batch_commit_then_rerun_leaves_exact_rows(
    mode: str,
    batch_windows: int,
    fed: Settings,
    warm: WarmTier,
    catalog: SqlCatalog,
    coldtier_env: dict[str, str],
) -> None:
    """The hour's four windows are one batch (or two batches of two); SIGKILL before or after it lands."""
    spec = get_table("silver_trades")
    env = {**coldtier_env, "COLDTIER_TEST_BATCH_WINDOWS": str(batch_windows)}
    killed = _child(mode, spec.name, START.isoformat(), (START + H1).isoformat(), env)
    assert killed.returncode == -9, killed.stderr
    table = catalog.load_table((fed.namespace, spec.name))
    committed = read_ledger(table)
    if mode == "kill-before-commit":
        assert committed.watermark is None  # nothing committed although files were written
        assert len(_data_files(catalog, fed, spec.name)) >= 4, "every window's files were written"
    else:  # the first batch landed whole, in one snapshot: every window of it, or none
        assert committed.ranges == Ledger().add(Window(START, START + min(batch_windows, 4) * M15)).ranges
        assert len(table.metadata.snapshots) == 1
    report = offloader(fed, warm).offload(spec, START, START + H1, run_id="rerun")
    assert report.watermark == START + H1
    assert_window_matches(warm, catalog, fed.namespace, spec, START, START + H1)


def test_killed_after_commit_before_dagster_recorded_it(
    fed: Settings, warm: WarmTier, catalog: SqlCatalog, coldtier_env: dict[str, str]
) -> None:
    import dagster as dg

    from coldtier_assets.cli.instance import prepare_dagster_home

    prepare_dagster_home(fed)
    key = START.strftime("%Y-%m-%d-%H:%M")
    killed = _child("dagster-kill-after-commit", "silver_trades", key, key, coldtier_env)
    assert killed.returncode == -9, killed.stderr
    tables = ["bronze_trades_binance", "bronze_trades_kraken", "bronze_trades_coinbase", "silver_trades"]
    committed = [read_ledger(catalog.load_table((fed.namespace, name))).watermark for name in tables]
    assert any(committed), "a window commit landed before the kill"
    with dg.DagsterInstance.get() as instance:
        for name in tables:  # ... but Dagster recorded no materialization
            assert instance.get_latest_materialization_event(dg.AssetKey(["cold", name])) is None
        rerun = _child("dagster-plain", "silver_trades", key, key, coldtier_env)
        assert rerun.returncode == 0, rerun.stderr
        assert instance.get_latest_materialization_event(dg.AssetKey(["cold", "silver_trades"])) is not None
    for name in tables:
        assert_window_matches(warm, catalog, fed.namespace, get_table(name), START, START + M15)


def test_concurrent_materializations_of_one_window_agree(
    fed: Settings, warm: WarmTier, catalog: SqlCatalog, coldtier_env: dict[str, str]
) -> None:
    args = [
        sys.executable,
        "-m",
        "coldtier_assets_tests.integration.offload_child",
        "plain",
        "silver_trades",
        START.isoformat(),
        (START + H1).isoformat(),
    ]
    children = [
        subprocess.Popen(
            args,
            env={**os.environ, **coldtier_env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for child in children:
        _, stderr = child.communicate(timeout=300)
        assert child.returncode == 0, stderr
    assert_window_matches(warm, catalog, fed.namespace, get_table("silver_trades"), START, START + H1)
    table = catalog.load_table((fed.namespace, "silver_trades"))
    assert read_ledger(table).watermark == START + H1


def test_a_window_larger_than_a_slice_is_read_in_slices_and_copied_exactly(
    fed: Settings, warm: WarmTier, catalog: SqlCatalog
) -> None:
    import dataclasses

    small_slices = dataclasses.replace(fed, read_slice_rows=1_000)  # bounded memory: ~1k rows per read
    spec = get_table("silver_trades")
    report = Offloader(small_slices, warm, lambda: open_catalog(fed)).offload(
        spec, START, START + M15, "sliced"
    )
    (result,) = report.results
    assert result.rows > 5_000 and result.files >= 5  # one or more data files per slice
    assert_window_matches(warm, catalog, fed.namespace, spec, START, START + M15)
