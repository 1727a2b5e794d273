"""The warm tier itself: Gold candles are right, and processes share the embedded engine."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal, localcontext
from typing import Any

import pytest

from coldtier_assets.config import Settings
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.simulate.feed import simulate_history
from coldtier_assets.tables import CANDLE_INTERVALS
from coldtier_assets_tests.fixtures import DAY

START = DAY + timedelta(hours=23)


def python_candles(
    trades: list[dict[str, Any]], seconds: int
) -> dict[tuple[str, str, datetime], dict[str, Any]]:
    """Candles computed independently from Silver rows: open/close by (trade_time, trade_id)."""
    groups: dict[tuple[str, str, datetime], list[dict[str, Any]]] = defaultdict(list)
    for trade in trades:
        epoch = int(trade["trade_time"].timestamp())
        start = datetime.fromtimestamp(epoch - epoch % seconds, UTC)
        groups[(trade["exchange"], trade["symbol"], start)].append(trade)
    candles = {}
    for key, group in groups.items():
        ordered = sorted(group, key=lambda t: (t["trade_time"], t["trade_id"]))
        volume = sum((t["quantity"] for t in group), Decimal(0))
        quote = sum((t["quote_amount"] for t in group), Decimal(0))
        with localcontext() as context:
            context.prec = 60
            vwap = (quote / volume).quantize(Decimal("1e-8"), rounding=ROUND_DOWN)
        candles[key] = {
            "open": ordered[0]["price"],
            "high": max(t["price"] for t in group),
            "low": min(t["price"] for t in group),
            "close": ordered[-1]["price"],
            "volume": volume,
            "quote_volume": quote,
            "trade_count": len(group),
            "vwap": vwap,
        }
    return candles


def test_gold_candles_equal_candles_computed_in_python(initialized: Settings, warm: WarmTier) -> None:
    simulate_history(warm, START, START + timedelta(hours=1), seed=3, trades_per_second=30)
    trades = warm.arrow("SELECT * FROM silver_trades FINAL").to_pylist()
    raw = int(str(warm.rows("SELECT count() FROM silver_trades")[0][0]))
    assert raw > len(trades), "the feed should have resent some trades"
    for interval, seconds in CANDLE_INTERVALS:
        expected = python_candles(trades, seconds)
        rows = warm.arrow(f"SELECT * FROM gold_ohlcv_{interval}").to_pylist()
        actual = {(r["exchange"], r["symbol"], r["window_start"]): r for r in rows}
        assert actual.keys() == expected.keys(), interval
        for key, candle in expected.items():
            got = {name: actual[key][name] for name in candle}
            assert got == candle, (interval, key)
        assert sum(r["trade_count"] for r in rows) == len(trades), f"{interval}: each trade counted once"


SHARE_SCRIPT = """
import sys
from coldtier_assets.resources.clickhouse import WarmTier
warm = WarmTier(sys.argv[1])
for i in range(40):
    warm.command("INSERT INTO probe VALUES ({n:Int64})", {"n": int(sys.argv[2]) * 1000 + i})
    warm.rows("SELECT count() FROM probe")
print("ok")
"""


def test_two_processes_use_the_embedded_warm_tier_at_the_same_time(settings: Settings) -> None:
    warm = WarmTier(settings.warm_dsn)
    warm.command("CREATE TABLE probe (n Int64) ENGINE = MergeTree ORDER BY n")
    children = [
        subprocess.Popen(
            [sys.executable, "-c", SHARE_SCRIPT, settings.warm_dsn, str(worker)],
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(2)
    ]
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0 and out.strip() == "ok", err
    assert warm.rows("SELECT count(), uniqExact(n) FROM probe") == [(80, 80)]


COUNT_SCRIPT = """
import sys
from coldtier_assets.resources.clickhouse import WarmTier
print(WarmTier(sys.argv[1]).rows("SELECT count() FROM probe")[0][0])
"""


def test_a_busy_process_keeps_its_connection_until_another_process_waits(settings: Settings) -> None:
    """Past ``max_hold_seconds`` the connection is kept while nobody waits, handed over once one does."""
    warm = WarmTier(settings.warm_dsn, linger_seconds=30, max_hold_seconds=0.2)
    warm.command("CREATE TABLE probe (n Int64) ENGINE = MergeTree ORDER BY n")
    warm.command("INSERT INTO probe VALUES (1), (2)")
    with warm.session() as opened:
        pass
    time.sleep(0.4)
    with warm.session() as later:
        assert later is opened, "nobody waits: no reason to reopen chDB"
    child = subprocess.Popen(
        [sys.executable, "-c", COUNT_SCRIPT, settings.warm_dsn],
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    clients = [opened]  # references, not ids: a closed client's id may be reused
    deadline = time.monotonic() + 120
    while child.poll() is None and time.monotonic() < deadline:  # busy: a session every 50 ms
        with warm.session() as client:
            clients.append(client)
            client.query("SELECT 1")
        time.sleep(0.05)
    out, err = child.communicate(timeout=10)
    assert child.returncode == 0 and out.strip() == "2", err
    assert any(client is not opened for client in clients), "the waiting process got its turn meanwhile"
    warm.close()


def test_without_the_lock_a_second_process_cannot_open_chdb(settings: Settings) -> None:
    """Why the lock exists: chDB refuses a second process on the same path (real chDB, no lock)."""
    warm = WarmTier(settings.warm_dsn)
    with warm.session():
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import clickhouse_connect; clickhouse_connect.get_client(dsn={settings.warm_dsn!r})",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode != 0


@pytest.mark.parametrize("seed", [1])
def test_silver_is_the_normalized_union_of_bronze_each_trade_once(
    initialized: Settings, warm: WarmTier, seed: int
) -> None:
    simulate_history(warm, START, START + timedelta(minutes=20), seed=seed, trades_per_second=40)
    normalized = warm.rows(
        """
        SELECT count() FROM (
            SELECT 'binance' AS exchange, trade_id, toString(price) AS p FROM bronze_trades_binance FINAL
            UNION ALL SELECT 'kraken', trade_id, toString(price) FROM bronze_trades_kraken FINAL
            UNION ALL SELECT 'coinbase', trade_id, toString(price) FROM bronze_trades_coinbase FINAL
        )
        """
    )
    silver = warm.rows("SELECT count(), uniqExact(exchange, symbol, trade_id) FROM silver_trades FINAL")
    assert silver[0][0] == silver[0][1] == normalized[0][0]
    symbols = {str(row[0]) for row in warm.rows("SELECT DISTINCT symbol FROM silver_trades")}
    assert all("/" in symbol for symbol in symbols) and "BTC/USD" in symbols and "BTC/USDT" in symbols


def test_embedded_arrow_results_are_handed_over_uncompressed(warm: WarmTier) -> None:
    """In one process LZ4 only costs CPU: each embedded connection asks ClickHouse for plain Arrow once."""
    query = "SELECT getSetting('output_format_arrow_compression_method') AS method"
    assert warm.arrow(query).column("method").to_pylist() == ["none"]
    warm.close()  # the next connection is set the same way when it opens
    assert warm.arrow(query).column("method").to_pylist() == ["none"]
