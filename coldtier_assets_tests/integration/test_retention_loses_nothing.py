"""Retention loses nothing: rows written after verification survive; orphan removal keeps young files.

Real chDB (it moves partitions between tables like a server), a real catalog. Rows are injected
through retention's own ``on_verified`` hook, between the first verification and the move aside.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from coldtier_assets.maintenance.holding import holding_table, move_aside
from coldtier_assets.maintenance.orphans import OrphanRemovalError, remove_orphan_files
from coldtier_assets.maintenance.policy import MaintenancePolicy
from coldtier_assets.maintenance.retention import apply_retention
from coldtier_assets.maintenance.warm_days import DayPartition, day_partitions, partitioned_tables
from coldtier_assets.offload.source import sql_time
from coldtier_assets.offload.windows import Window
from coldtier_assets.simulate.feed import simulate_history
from coldtier_assets.tables import TABLES, get_table
from coldtier_assets_tests.fixtures import DAY
from coldtier_assets_tests.maintenance_fixtures import M15, Coldtier, add_late_trades, make_coldtier

DAY_A = DAY - timedelta(days=1)
BINANCE = get_table("bronze_trades_binance")
LAST_WINDOW_START = DAY - M15  # the feed: the last window of day A
NOW = DAY + timedelta(days=4)


def _copied_day(coldtier_env: dict[str, str]) -> Coldtier:
    env = make_coldtier(coldtier_env)
    simulate_history(env.warm, LAST_WINDOW_START, DAY, seed=3, trades_per_second=2)
    offloader = env.offloader()
    for spec in TABLES:
        offloader.offload(spec, DAY_A, DAY)
    return env


def _warm_tables(env: Coldtier) -> set[str]:
    day = DAY_A.strftime("%Y%m%d")
    return {p.table for p in day_partitions(env.warm, partitioned_tables()) if p.partition_id == day}


def _prices(env: Coldtier, key: str) -> list[object]:
    rows = env.warm.rows(f"SELECT price FROM `{BINANCE.name}` FINAL WHERE {key}")
    return [row[0] for row in rows]


def _correct_one_trade(env: Coldtier) -> tuple[str, object]:
    """Resend one trade of day A with a corrected price (same key: the count does not change)."""
    (symbol, trade_id, price), *_ = env.warm.rows(
        f"SELECT symbol, trade_id, price FROM `{BINANCE.name}` WHERE trade_time >= {sql_time(LAST_WINDOW_START)} "
        "ORDER BY trade_time, trade_id LIMIT 1"
    )
    key = f"symbol = '{symbol}' AND trade_id = {trade_id}"
    columns = [name for name in env.warm.columns(BINANCE.name) if name != "ingested_at"]
    select = ", ".join("`price` + 1" if c == "price" else f"`{c}`" for c in columns)
    env.warm.command(
        f"INSERT INTO `{BINANCE.name}` ({', '.join(f'`{c}`' for c in columns)}) "
        f"SELECT {select} FROM `{BINANCE.name}` WHERE {key} LIMIT 1"
    )
    return key, price


def test_a_trade_corrected_after_verification_is_not_dropped(coldtier_env: dict[str, str]) -> None:
    env = _copied_day(coldtier_env)
    # the feed sends no invalid trade, so rejected_trades has no partition for the day
    assert _warm_tables(env) == {spec.name for spec in partitioned_tables()} - {"rejected_trades"}
    corrected: list[tuple[str, object]] = []

    def correct_a_trade(partition: DayPartition) -> None:
        if partition.table == BINANCE.name and not corrected:
            corrected.append(_correct_one_trade(env))

    decisions = apply_retention(env.settings, env.warm, env.catalog, 2, now=NOW, on_verified=correct_a_trade)

    (key, old_price), *_ = corrected
    kept = {d.table: d for d in decisions if not d.dropped}
    # Binance and Silver (fed by Binance's materialized view) changed; the others were dropped
    assert set(kept) == {BINANCE.name, "silver_trades"}, [d.reason for d in decisions]
    assert "changed since verification" in kept[BINANCE.name].reason
    assert "moved aside" in kept[BINANCE.name].reason
    assert _warm_tables(env) == {BINANCE.name, "silver_trades"}
    (price,) = _prices(env, key)  # the corrected trade is still in the warm tier
    assert price != old_price
    held = env.warm.rows("SELECT name FROM system.tables WHERE name LIKE '%\\_retention\\_%'")
    assert held == []  # the holding tables are gone, their rows back in the live tables


def test_a_late_trade_after_verification_survives_and_the_rest_is_dropped_later(
    coldtier_env: dict[str, str],
) -> None:
    env = _copied_day(coldtier_env)
    count = f"SELECT count() FROM `{BINANCE.name}` FINAL"
    before = int(str(env.warm.rows(count)[0][0]))
    late: list[int] = []

    def add_a_late_trade(partition: DayPartition) -> None:
        if partition.table == BINANCE.name and not late:
            late.append(add_late_trades(env.warm, BINANCE, Window(LAST_WINDOW_START, DAY), count=1))

    decisions = apply_retention(env.settings, env.warm, env.catalog, 2, now=NOW, on_verified=add_a_late_trade)

    assert late == [1]
    assert {d.table for d in decisions if not d.dropped} == {BINANCE.name, "silver_trades"}
    assert env.warm.rows(count) == [(before + 1,)]  # nothing lost: the late trade is still warm


def test_a_holding_table_left_by_an_interrupted_run_is_moved_back(coldtier_env: dict[str, str]) -> None:
    env = _copied_day(coldtier_env)
    partition_id = DAY_A.strftime("%Y%m%d")
    before = env.warm.rows(f"SELECT count() FROM `{BINANCE.name}` FINAL")
    with env.warm.session():
        held = move_aside(env.warm, BINANCE.name, partition_id)  # then the process "died"
    assert held == holding_table(BINANCE.name, partition_id)
    assert env.warm.rows(f"SELECT count() FROM `{BINANCE.name}` FINAL") == [(0,)]

    apply_retention(env.settings, env.warm, env.catalog, 3650, now=NOW)  # nothing old enough to drop

    assert env.warm.rows(f"SELECT count() FROM `{BINANCE.name}` FINAL") == before
    assert env.warm.rows(f"SELECT count() FROM system.tables WHERE name = '{held}'") == [(0,)]


def test_orphan_removal_refuses_an_age_below_24_hours_whatever_the_configuration_says(
    coldtier_env: dict[str, str],
) -> None:
    env = make_coldtier(coldtier_env)
    with pytest.raises(ValueError, match="refuses a minimum age of 12 h"):
        MaintenancePolicy(orphan_min_age=timedelta(hours=12))
    policy = MaintenancePolicy()
    object.__setattr__(policy, "orphan_min_age", timedelta(0))  # a policy altered after its checks
    location = Path(env.table().location().removeprefix("file://"))
    stray = location / "data" / "written-by-a-commit-of-unknown-outcome.parquet"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"PAR1")

    with pytest.raises(OrphanRemovalError, match="refuses a minimum age of 0 days"):
        remove_orphan_files(
            env.catalog, env.identifier, now=datetime.now(UTC) + timedelta(hours=1), policy=policy
        )
    assert stray.exists()

    from coldtier_assets.cli.main import app

    refused = CliRunner().invoke(app, ["maintain", "--table", BINANCE.name, "--orphan-days", "0.5"])
    assert refused.exit_code == 2 and "refuses" in refused.output, refused.output
    assert stray.exists()
