"""Many workers: Dagster runs of different windows of one table, in their own processes at once.

Three real run processes (each a Dagster run on the same SQLite instance, as the queued run
coordinator's workers are) copy three ranges of ``bronze_trades_binance``. Their first commits are
released together, so they race on the same Iceberg table for real: conflicts happen, are retried
(counted in each materialization's ``conflict_retries``), and nothing is lost or doubled.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from coldtier_assets.cli.instance import prepare_dagster_home
from coldtier_assets.config import Settings
from coldtier_assets.defs.partitions import PARTITION_FORMAT
from coldtier_assets.offload.sink import PREFIX, read_ledger
from coldtier_assets.offload.verify import Verdict, verify_windows
from coldtier_assets.offload.windows import Window, split_windows
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.simulate.feed import simulate_history
from coldtier_assets.tables import get_table
from coldtier_assets_tests.fixtures import DAY

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

TABLE = "bronze_trades_binance"
RUNS = 3
WINDOWS_PER_RUN = 3
WINDOW = timedelta(minutes=15)


def _launch(env: dict[str, str], first: Window, last: Window, barrier: Path) -> subprocess.Popen[str]:
    keys = [window.start.strftime(PARTITION_FORMAT) for window in (first, last)]
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "coldtier_assets_tests.integration.concurrent_run_child",
            TABLE,
            *keys,
            str(barrier),
            str(RUNS),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _appends_per_window(catalog: SqlCatalog, settings: Settings) -> Counter[str]:
    """How many appends covered each window (a run commits its consecutive windows as one batch)."""
    table = catalog.load_table((settings.namespace, TABLE))
    starts: Counter[str] = Counter()
    for snapshot in table.metadata.snapshots:
        summary = snapshot.summary
        props = summary.additional_properties if summary else {}
        if summary and summary.operation.value == "append" and props.get(PREFIX + "window-start"):
            span_start = datetime.fromisoformat(props[PREFIX + "window-start"])
            span_end = datetime.fromisoformat(props[PREFIX + "window-end"])
            for window in split_windows(span_start, span_end, WINDOW):
                starts[window.start.isoformat()] += 1
    return starts


def test_concurrent_runs_of_one_table_commit_every_window_exactly_once(
    initialized: Settings, warm: WarmTier, catalog: SqlCatalog, coldtier_env: dict[str, str], tmp_path: Path
) -> None:
    settings = initialized
    windows = split_windows(DAY, DAY + WINDOW * RUNS * WINDOWS_PER_RUN, WINDOW)
    simulate_history(warm, windows[0].start, windows[-1].end, seed=11, trades_per_second=6)
    warm.close()  # the run processes open the embedded warm tier themselves
    prepare_dagster_home(settings)
    env = {**os.environ, **coldtier_env, "COLDTIER_START": DAY.date().isoformat()}
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    chunks = [windows[i : i + WINDOWS_PER_RUN] for i in range(0, len(windows), WINDOWS_PER_RUN)]
    processes = [_launch(env, chunk[0], chunk[-1], barrier) for chunk in chunks]
    outputs = [process.communicate(timeout=600) for process in processes]
    for process, (_out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err[-3000:]
    runs = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert all(run["success"] for run in runs), runs

    # Every window once: one range in the ledger, each window in exactly one append, the source rows.
    table = catalog.load_table((settings.namespace, TABLE))
    assert read_ledger(table).ranges == ((windows[0].epoch_range[0], windows[-1].epoch_range[1]),)
    appends = _appends_per_window(catalog, settings)
    assert sorted(appends) == [window.start.isoformat() for window in windows]
    assert set(appends.values()) == {1}
    spec = get_table(TABLE)
    checks = verify_windows(settings, warm, table, spec, windows)
    assert {check.verdict for check in checks} == {Verdict.MATCH}, checks
    keys = ", ".join(f"`{column}`" for column in spec.natural_key)
    warm_keys = warm.rows(f"SELECT {keys} FROM {TABLE} FINAL ORDER BY {keys}")
    cold = (
        table.scan(selected_fields=tuple(spec.natural_key))
        .to_arrow()
        .sort_by([(column, "ascending") for column in spec.natural_key])
    )
    assert list(zip(*(cold.column(column).to_pylist() for column in spec.natural_key), strict=True)) == [
        tuple(row) for row in warm_keys
    ]

    # The commits raced for real: some were retried, as each run's materialization says.
    with dg.DagsterInstance.get() as instance:
        retries = 0
        for run in runs:  # a range run records its figures on each partition's materialization: count once
            records = instance.get_records_for_run(
                run["run_id"], of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
            ).records
            materialization = records[-1].event_log_entry.asset_materialization
            assert materialization is not None and len(records) == WINDOWS_PER_RUN
            retries += int(materialization.metadata["conflict_retries"].value)  # type: ignore[arg-type]
    assert retries >= 1, "the three first commits were released together: at least one must conflict"
