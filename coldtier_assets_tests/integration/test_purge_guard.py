"""The purge guard: a re-copy never shrinks a cold window below what the warm tier can prove.

Real chDB, a real catalog, real retention: a day is copied, retention drops it from the warm tier,
one resent trade arrives for it, and the day is offloaded again.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from pyiceberg.table import Table
from typer.testing import CliRunner

from coldtier_assets.defs.assets.common import FORCE_TAG
from coldtier_assets.errors import WarmDataPurgedError
from coldtier_assets.maintenance.retention import apply_retention
from coldtier_assets.offload.pipeline import Offloader
from coldtier_assets.offload.sink import read_ledger, window_filter
from coldtier_assets.offload.source import SourceTable, sql_time
from coldtier_assets.offload.windows import Window
from coldtier_assets.offload.write_queue import WriteQueue
from coldtier_assets.resources.iceberg import open_catalog
from coldtier_assets.simulate.feed import simulate_history
from coldtier_assets.tables import TABLES, get_table
from coldtier_assets_tests.fixtures import DAY
from coldtier_assets_tests.maintenance_fixtures import M15, Coldtier, make_coldtier

DAY_A = DAY - timedelta(days=1)
WINDOW = Window(DAY - M15, DAY)  # the last window of day A: the only one with trades
BINANCE = get_table("bronze_trades_binance")


def _copied(coldtier_env: dict[str, str]) -> Coldtier:
    env = make_coldtier(coldtier_env)
    simulate_history(env.warm, WINDOW.start, WINDOW.end, seed=21, trades_per_second=2)
    offloader = env.offloader()
    for spec in TABLES:
        offloader.offload(spec, DAY_A, DAY)
    return env


def _cold_window(table: Table) -> tuple[int, int | None]:
    rows = table.scan(row_filter=window_filter(BINANCE.time_column, WINDOW)).to_arrow().num_rows
    snapshot = table.current_snapshot()
    return rows, snapshot.snapshot_id if snapshot else None


def _resend_one_trade(env: Coldtier) -> None:
    """One trade of the dropped day arrives again from the exchange (a resend, same key)."""
    trade = env.table().scan(row_filter=window_filter(BINANCE.time_column, WINDOW), limit=1).to_arrow()
    env.warm.insert_arrow(BINANCE.name, trade)


def test_a_resent_trade_for_a_dropped_day_does_not_shrink_the_cold_day_without_force(
    coldtier_env: dict[str, str],
) -> None:
    env = _copied(coldtier_env)
    decisions = apply_retention(env.settings, env.warm, env.catalog, 2, now=DAY + timedelta(days=4))
    assert {d.table for d in decisions if d.dropped} >= {BINANCE.name}
    cold_before = _cold_window(env.table())
    assert cold_before[0] > 1
    _resend_one_trade(env)
    assert env.warm.rows(f"SELECT count() FROM `{BINANCE.name}`") == [(1,)]

    with pytest.raises(WarmDataPurgedError) as refused:
        env.offloader().offload(BINANCE, DAY_A, DAY)

    message = str(refused.value)
    assert BINANCE.name in message and f"window {WINDOW}" in message
    assert f"ClickHouse has 1 row(s), the cold copy {cold_before[0]}" in message
    assert _cold_window(env.table()) == cold_before  # nothing committed

    from coldtier_assets.cli.main import app

    runner = CliRunner()
    args = ["offload", "--table", BINANCE.name, "--start", DAY_A.isoformat(), "--end", DAY.isoformat()]
    cli_refused = runner.invoke(app, args)
    assert cli_refused.exit_code == 1 and "refusing to delete" in cli_refused.output, cli_refused.output
    assert _cold_window(env.table()) == cold_before

    forced = runner.invoke(app, [*args, "--force"])  # the operator really means it
    assert forced.exit_code == 0, forced.output
    assert _cold_window(env.table())[0] == 1
    assert read_ledger(env.table()).covers(WINDOW)


def test_a_day_dropped_by_retention_is_refused_even_when_the_counts_do_not_shrink(
    coldtier_env: dict[str, str],
) -> None:
    env = _copied(coldtier_env)
    apply_retention(env.settings, env.warm, env.catalog, 2, now=DAY + timedelta(days=4))
    cold_before = _cold_window(env.table())
    # the whole day comes back (say a replay of the feed with other trade ids): more rows than cold
    simulate_history(env.warm, WINDOW.start, WINDOW.end, seed=22, trades_per_second=4)

    with pytest.raises(
        WarmDataPurgedError, match=re.escape(f"retention dropped {DAY_A.date()} from the warm tier")
    ):
        env.offloader().offload(BINANCE, DAY_A, DAY)
    assert _cold_window(env.table()) == cold_before

    # in Dagster: refused, and with the run tag coldtier/force=true replaced
    import dagster as dg

    from coldtier_assets.definitions import build_definitions

    job = build_definitions(env.settings).resolve_job_def("offload_15m")
    selection = [dg.AssetKey(["cold", BINANCE.name])]
    key = WINDOW.start.strftime("%Y-%m-%d-%H:%M")
    with dg.DagsterInstance.ephemeral() as instance:
        refused = job.execute_in_process(
            instance=instance, partition_key=key, asset_selection=selection, raise_on_error=False
        )
        assert not refused.success
        assert _cold_window(env.table()) == cold_before
        forced = job.execute_in_process(
            instance=instance, partition_key=key, asset_selection=selection, tags={FORCE_TAG: "true"}
        )
        assert forced.success
    rows = env.warm.rows(f"SELECT count() FROM `{BINANCE.name}` FINAL")
    assert _cold_window(env.table())[0] == rows[0][0]


class EmptyingOffloader(Offloader):
    """The real offload; between planning (row counts) and reading, half the window is deleted.

    ``emptied`` names the one window to empty; ``None`` empties every window read.
    """

    emptied: Window | None = None

    def _write(
        self, table: Table, source: SourceTable, window: Window, expected_rows: int, queue: WriteQueue
    ) -> Any:
        column = f"`{source.time_column}`"
        if self.emptied in (None, window):
            self.warm.command(
                f"ALTER TABLE `{source.spec.name}` DELETE WHERE {column} >= {sql_time(window.start)} "
                f"AND {column} < {sql_time(window.end)} AND trade_id % 2 = 0 SETTINGS mutations_sync = 2"
            )
        return super()._write(table, source, window, expected_rows, queue)


def test_a_window_emptied_between_planning_and_reading_is_refused(coldtier_env: dict[str, str]) -> None:
    env = _copied(coldtier_env)
    cold_before = _cold_window(env.table())
    data_files = {task.file.file_path for task in env.table().scan().plan_files()}

    emptying = EmptyingOffloader(env.settings, env.warm, lambda: open_catalog(env.settings))
    with pytest.raises(WarmDataPurgedError, match=re.escape(f"window {WINDOW}: ClickHouse has")):
        emptying.offload(BINANCE, WINDOW.start, WINDOW.end)

    assert _cold_window(env.table()) == cold_before
    assert {task.file.file_path for task in env.table().scan().plan_files()} == data_files


def test_a_refused_window_commits_the_windows_before_it_and_keeps_its_own(
    coldtier_env: dict[str, str],
) -> None:
    env = make_coldtier(coldtier_env)
    earlier = Window(WINDOW.start - M15, WINDOW.start)
    simulate_history(env.warm, earlier.start, WINDOW.end, seed=22, trades_per_second=2)
    env.offloader().offload(BINANCE, DAY_A, DAY)
    cold_before = _cold_window(env.table())
    snapshots_before = len(env.table().metadata.snapshots)

    emptying = EmptyingOffloader(env.settings, env.warm, lambda: open_catalog(env.settings))
    emptying.emptied = WINDOW  # the batch's last window
    with pytest.raises(WarmDataPurgedError, match=re.escape(f"window {WINDOW}: ClickHouse has")):
        emptying.offload(BINANCE, earlier.start, WINDOW.end)

    table = env.table()
    assert _cold_window(table)[0] == cold_before[0]  # the refused window keeps its cold rows
    committed = table.current_snapshot()
    assert committed is not None and len(table.metadata.snapshots) > snapshots_before
    assert committed.summary is not None
    assert committed.summary["coldtier.window-end"] == earlier.end.isoformat()  # only the earlier window
    warm_earlier = int(
        str(
            env.warm.rows(
                f"SELECT count() FROM `{BINANCE.name}` FINAL WHERE {BINANCE.time_column} >= "
                f"{sql_time(earlier.start)} AND {BINANCE.time_column} < {sql_time(earlier.end)}"
            )[0][0]
        )
    )
    cold_earlier = table.scan(row_filter=window_filter(BINANCE.time_column, earlier)).to_arrow().num_rows
    assert cold_earlier == warm_earlier > 0
    assert read_ledger(table).overlaps(WINDOW)  # the refused window stays copied, as it was
