"""Every description in the Dagster UI reads naturally: durations in words, never ``0:15:00``."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import dagster as dg

from coldtier_assets.config import load_settings
from coldtier_assets.definitions import build_definitions
from coldtier_assets.defs.partitions import duration_words

CLOCK = re.compile(r"\d+:\d\d:\d\d")


def test_durations_in_words() -> None:
    assert duration_words(timedelta(minutes=15)) == "15 minutes"
    assert duration_words(timedelta(minutes=1)) == "1 minute"
    assert duration_words(timedelta(hours=1)) == "1 hour"
    assert duration_words(timedelta(days=1, hours=6)) == "1 day 6 hours"
    assert duration_words(timedelta(seconds=90)) == "1 minute 30 seconds"


def _descriptions(definitions: dg.Definitions) -> dict[str, str]:
    graph = definitions.resolve_asset_graph()
    texts = {key.to_user_string(): graph.get(key).description or "" for key in graph.get_all_asset_keys()}
    for check_key in graph.asset_check_keys:
        texts[check_key.to_user_string()] = graph.get_check_spec(check_key).description or ""
    for job in definitions.resolve_all_job_defs():
        texts[f"job {job.name}"] = job.description or ""
    for sensor in definitions.sensors or []:
        texts[f"sensor {sensor.name}"] = sensor.description or ""
    for schedule in definitions.schedules or []:
        texts[f"schedule {schedule.name}"] = schedule.description or ""
    return texts


def test_no_description_shows_a_raw_timedelta(tmp_path: Path) -> None:
    texts = _descriptions(build_definitions(load_settings({"COLDTIER_HOME": str(tmp_path)})))
    assert not {name: text for name, text in texts.items() if CLOCK.search(text)}
    assert "in windows of 15 minutes of `trade_time`" in texts["cold/silver_trades"]
    assert "OHLCV candles of 1 hour per exchange and symbol" in texts["cold/gold_ohlcv_1h"]
    assert texts["job offload_1h"].startswith("Copies windows of 1 hour of trade time")
    assert "the last 6 hours of copied windows" in texts["sensor heal_drifted_windows"]
