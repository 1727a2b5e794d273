"""Check results land on each partition of a run that copies a range of windows (what the UI shows).

Dagster 1.13 stores an ``AssetCheckResult`` of a partition-range run once, without a partition, and
leaves the run's planned per-partition rows ``PLANNED``, which the Checks tab shows as "Skipped".
These tests run the real offload job over a range of partitions on a real Dagster instance (real
chDB, real Iceberg) and read the per-partition check records back.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import dagster as dg
import pytest
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from coldtier_assets.cli.instance import prepare_dagster_home
from coldtier_assets.config import Settings
from coldtier_assets.definitions import build_definitions
from coldtier_assets.defs.checks.asset_checks import CONSISTENCY, CheckOutcome, check_names
from coldtier_assets.defs.jobs import offload_job_name
from coldtier_assets.defs.partitions import PARTITION_FORMAT
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.simulate.feed import simulate_history
from coldtier_assets.tables import get_table
from coldtier_assets_tests.fixtures import DAY

pytestmark = pytest.mark.integration

START = DAY + timedelta(hours=22)
WINDOW = timedelta(minutes=15)
KEYS = [(START + i * WINDOW).strftime(PARTITION_FORMAT) for i in range(4)]
SILVER = dg.AssetKey(["cold", "silver_trades"])


@pytest.fixture
def instance(initialized: Settings, warm: WarmTier) -> Iterator[dg.DagsterInstance]:
    simulate_history(warm, START, START + 4 * WINDOW, seed=5, trades_per_second=5)
    prepare_dagster_home(initialized)
    with dg.DagsterInstance.get() as instance:
        yield instance


def _run(settings: Settings, instance: dg.DagsterInstance, checks_only: bool = False) -> bool:
    job = build_definitions(settings).resolve_job_def(offload_job_name(WINDOW))
    if checks_only:  # what "Execute" on a check does: the checks of one asset, no copy
        job = job.get_subset(
            asset_selection=set(),
            asset_check_selection={dg.AssetCheckKey(SILVER, CONSISTENCY)},
        )
    result = job.execute_in_process(
        instance=instance,
        tags={"dagster/asset_partition_range_start": KEYS[0], "dagster/asset_partition_range_end": KEYS[-1]},
        raise_on_error=False,
    )
    return result.success


def _statuses(instance: dg.DagsterInstance, name: str) -> dict[str | None, tuple[str, bool]]:
    infos = instance.event_log_storage.get_asset_check_partition_info([dg.AssetCheckKey(SILVER, name)])
    return {info.partition_key: (info.latest_execution_status.value, info.is_current) for info in infos}


def test_every_partition_of_a_range_run_records_its_own_passed_checks(
    initialized: Settings, instance: dg.DagsterInstance
) -> None:
    assert _run(initialized, instance)
    for name in check_names(get_table("silver_trades")):
        # old code: {'2026-11-24-22:00': ('PLANNED', True), ..., None: ('SUCCEEDED', True)} -> "Skipped"
        assert _statuses(instance, name) == {key: ("SUCCEEDED", True) for key in KEYS}, name
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(SILVER, CONSISTENCY)]
    )
    record = latest[dg.AssetCheckKey(SILVER, CONSISTENCY)]
    assert record.status is AssetCheckExecutionRecordStatus.SUCCEEDED and record.partition in KEYS


def test_a_drifted_window_fails_only_its_own_partition(
    initialized: Settings, instance: dg.DagsterInstance, warm: WarmTier
) -> None:
    assert _run(initialized, instance)
    late = START + WINDOW + timedelta(minutes=3)  # a late trade in the second window, after the copy
    simulate_history(warm, late, late + timedelta(seconds=2), seed=99, trades_per_second=2)
    assert not _run(initialized, instance, checks_only=True)  # a blocking check failed
    statuses = _statuses(instance, CONSISTENCY)
    assert statuses[KEYS[1]] == ("FAILED", True)
    assert all(statuses[key] == ("SUCCEEDED", True) for key in KEYS if key != KEYS[1])


def test_a_span_wide_failure_fails_every_window_and_a_window_failure_only_its_own() -> None:
    whole = CheckOutcome("no_duplicate_keys", passed=False, metadata={})
    one = CheckOutcome(CONSISTENCY, passed=False, metadata={}, failed_windows=frozenset({START}))
    assert not whole.passed_for(START) and not whole.passed_for(START + WINDOW)
    assert not one.passed_for(START) and one.passed_for(START + WINDOW)
    assert CheckOutcome(CONSISTENCY, passed=True, metadata={}).passed_for(START)
