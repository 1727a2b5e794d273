"""Guarded warm retention against real chDB and a real catalog: verified days go, others stay and say why."""

from __future__ import annotations

from datetime import timedelta

from coldtier_assets.maintenance.audit_log import read_audit_rows
from coldtier_assets.maintenance.retention import apply_retention
from coldtier_assets.maintenance.warm_days import day_partitions, partitioned_tables
from coldtier_assets.offload.source import sql_time
from coldtier_assets.offload.verify import Verdict, verify_windows
from coldtier_assets.offload.windows import Window
from coldtier_assets.simulate.feed import simulate_history
from coldtier_assets.tables import TABLES, get_table
from coldtier_assets_tests.fixtures import DAY
from coldtier_assets_tests.maintenance_fixtures import M15, Coldtier, add_late_trades, make_coldtier

DAY_A = DAY - timedelta(days=1)  # fully copied and verified: dropped
DAY_B = DAY  # a Silver window not copied, a Kraken window changed after copying: kept
SILVER = get_table("silver_trades")
KRAKEN = get_table("bronze_trades_kraken")
# trades in the last window of day A and the first window of day B (adjacent: few marker commits)
FEED_START, FEED_END = DAY_B - M15, DAY_B + M15
UNCOPIED = CHANGED = Window(DAY_B, DAY_B + M15)


def _copy_both_days(env: Coldtier) -> None:
    simulate_history(env.warm, FEED_START, FEED_END, seed=9, trades_per_second=2)
    env.warm.command(  # a quarantined trade (price 0) on each day, so rejected_trades holds both days too
        "INSERT INTO bronze_trades_coinbase (trade_id, product_id, price, size, side, time) VALUES "
        f"(1, 'BTC-USD', 0, 1, 'buy', '{DAY_B - timedelta(minutes=10):%Y-%m-%d %H:%M:%S}'), "
        f"(2, 'BTC-USD', 0, 1, 'buy', '{DAY_B + timedelta(minutes=5):%Y-%m-%d %H:%M:%S}')"
    )
    offloader = env.offloader()
    for spec in TABLES:
        if spec is SILVER:  # everything but one window of day B
            offloader.offload(spec, DAY_A, UNCOPIED.start)
            offloader.offload(spec, UNCOPIED.end, DAY_B + timedelta(days=1))
        else:
            offloader.offload(spec, DAY_A, DAY_B + timedelta(days=1))
    assert add_late_trades(env.warm, KRAKEN, CHANGED, count=2) == 2  # after it was copied


def _warm_days(env: Coldtier) -> set[tuple[str, str]]:
    return {(p.table, p.partition_id) for p in day_partitions(env.warm, partitioned_tables())}


def test_retention_drops_the_verified_day_and_keeps_the_unverified_one_saying_why(
    coldtier_env: dict[str, str],
) -> None:
    env = make_coldtier(coldtier_env)
    _copy_both_days(env)
    warm_tables = {spec.name for spec in partitioned_tables()}
    a, b = DAY_A.strftime("%Y%m%d"), DAY_B.strftime("%Y%m%d")
    assert _warm_days(env) == {(t, day) for t in warm_tables for day in (a, b)}
    now = DAY_B + timedelta(days=4)

    preview = apply_retention(env.settings, env.warm, env.catalog, retention_days=2, now=now, dry_run=True)

    assert {(d.table, d.partition_id, d.drop, d.dropped) for d in preview} == {
        *((t, a, True, False) for t in warm_tables),
        *((t, b, False, False) for t in warm_tables),
    }
    assert _warm_days(env) == {(t, day) for t in warm_tables for day in (a, b)}  # nothing dropped
    assert read_audit_rows(env.settings.catalog_uri, action="retention") == []  # a preview logs nothing

    decisions = apply_retention(env.settings, env.warm, env.catalog, retention_days=2, now=now)

    dropped = {d.table for d in decisions if d.dropped}
    kept = [d for d in decisions if not d.dropped]
    assert dropped == warm_tables and all(d.partition_id == a for d in decisions if d.dropped)
    assert {d.table for d in kept} == warm_tables and all(d.partition_id == b for d in kept)
    assert _warm_days(env) == {(t, b) for t in warm_tables}
    rows_a = env.warm.rows(
        f"SELECT count() FROM silver_trades WHERE trade_time < {sql_time(DAY_A + timedelta(days=1))}"
    )
    assert rows_a == [(0,)]
    # the reasons name the tables and windows that stopped day B
    blockers = {
        (blocker.table, blocker.window, blocker.problem.split(" (")[0]) for blocker in kept[0].blockers
    }
    assert (SILVER.name, UNCOPIED, Verdict.NOT_COPIED.value) in blockers
    assert (KRAKEN.name, CHANGED, Verdict.MISMATCH.value) in blockers
    assert any(table.startswith("gold_ohlcv_") for table, _, _ in blockers)  # candles of the changed trades
    for decision in kept:
        assert f"{SILVER.name} window {UNCOPIED}: not copied yet" in decision.reason
        assert f"{KRAKEN.name} window {CHANGED}: mismatch" in decision.reason

    logged = read_audit_rows(env.settings.catalog_uri, action="retention")
    assert len(logged) == len(decisions) == 2 * len(warm_tables)
    assert {(row.table_name, row.outcome) for row in logged if row.rows_after == 0} == {
        (t, "success") for t in warm_tables
    }
    assert all(
        row.outcome == "skipped" and "not copied yet" in row.message for row in logged if row.rows_after
    )

    # the dropped day stays in the cold tier, now reported as purged from the warm tier
    binance = get_table("bronze_trades_binance")
    windows = [Window(FEED_START, DAY_B)]
    (check,) = verify_windows(env.settings, env.warm, env.table(binance), binance, windows)
    assert check.verdict is Verdict.PURGED and check.cold_rows > 0
