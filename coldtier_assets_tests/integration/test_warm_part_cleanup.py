"""An embedded warm tier removes the parts a merge replaced within seconds of each start-up.

Real chDB: a table without coldtier's DDL settings (``control``) beside the coldtier tables shows
what the defaults do (the first removal waits 30-40 s after start-up, longer than any command
lives), so each assertion is made against what the same engine does without the settings.
"""

from __future__ import annotations

import time
from pathlib import Path

from coldtier_assets.offload.bootstrap import init_warm
from coldtier_assets.resources.clickhouse import WarmTier


def _outdated(warm: WarmTier, table: str) -> int:
    rows = warm.rows(f"SELECT count() FROM system.parts WHERE table = '{table}' AND NOT active")
    return int(str(rows[0][0]))


def _settings_clause(warm: WarmTier, table: str) -> str:
    rows = warm.rows(f"SELECT create_table_query FROM system.tables WHERE name = '{table}'")
    return str(rows[0][0])


def _merge_six_inserts(warm: WarmTier) -> None:
    """Six inserts into silver_trades and into the control table, then a merge of each: six outdated parts."""
    with warm.session() as client:
        client.command("CREATE TABLE control (x UInt64, d Date) ENGINE = MergeTree PARTITION BY d ORDER BY x")
        for batch in range(6):
            client.command(f"INSERT INTO control SELECT number, '2026-01-01' FROM numbers({batch * 10}, 10)")
            client.command(
                "INSERT INTO silver_trades SELECT 'binance', 'BTC/USDT', number, 1, 2, 2, 'buy', "
                "toDateTime64('2026-01-01 00:00:00', 6, 'UTC') + number, now64(6, 'UTC') "
                f"FROM numbers({batch * 10}, 10)"
            )
        client.command("OPTIMIZE TABLE control FINAL")
        client.command("OPTIMIZE TABLE silver_trades FINAL")


def test_outdated_parts_are_gone_seconds_after_the_next_start_up(tmp_path: Path) -> None:
    warm = WarmTier(f"chdb://{tmp_path / 'warm'}", linger_seconds=0)
    init_warm(warm)
    _merge_six_inserts(warm)
    warm.close()

    with warm.session():  # the next command's start-up
        deadline = time.monotonic() + 15
        while _outdated(warm, "silver_trades") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _outdated(warm, "silver_trades") == 0
        assert _outdated(warm, "control") > 0  # the default keeps them past this session
        rows = warm.rows("SELECT count(), sum(trade_id) FROM silver_trades FINAL")
    assert rows == [(60, sum(range(60)))]  # the merged part holds every row


def test_init_gives_warm_tables_created_before_the_settings_the_settings(tmp_path: Path) -> None:
    warm = WarmTier(f"chdb://{tmp_path / 'warm'}", linger_seconds=0)
    init_warm(warm)
    with warm.session() as client:
        client.command(
            "ALTER TABLE silver_trades RESET SETTING cleanup_delay_period, cleanup_delay_period_random_add"
        )
        assert "cleanup_delay_period" not in _settings_clause(warm, "silver_trades")

    init_warm(warm)

    with warm.session():
        assert "cleanup_delay_period = 1" in _settings_clause(warm, "silver_trades")
        assert "cleanup_delay_period = 1" in _settings_clause(warm, "bronze_trades_kraken")
