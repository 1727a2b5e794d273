"""Sensors, evaluated with build_sensor_context on real chDB, a real catalog and a real instance."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.schema import Schema
from pyiceberg.types import DecimalType

from coldtier_assets.config import Settings, load_settings
from coldtier_assets.definitions import build_definitions
from coldtier_assets.defs.resources import ColdtierResource
from coldtier_assets.defs.sensors.sensors import build_healing_sensor, build_offload_sensor
from coldtier_assets.offload.pipeline import Offloader
from coldtier_assets.offload.recorded import recorded_checksums
from coldtier_assets.offload.sink import PREFIX, read_ledger, window_filter
from coldtier_assets.offload.source import (
    _hash_term,  # pyright: ignore[reportPrivateUsage]
    check_source,
    row_hash_expression,
)
from coldtier_assets.offload.windows import split_windows
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.resources.iceberg import open_catalog
from coldtier_assets.simulate.feed import simulate_history
from coldtier_assets.tables import INGESTION_COLUMNS, TABLES, get_table
from coldtier_assets_tests.fixtures import DAY

FEED = (DAY + timedelta(hours=22), DAY + timedelta(hours=23))
NOW = DAY + timedelta(hours=23, minutes=2, seconds=30)


@pytest.fixture
def world(
    coldtier_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, initialized: Settings, warm: WarmTier
) -> Iterator[tuple[Settings, dg.DagsterInstance]]:
    env = {
        "COLDTIER_START": DAY.date().isoformat(),
        "COLDTIER_FIRST_COPY_LOOKBACK_HOURS": "2",
        "COLDTIER_MAX_CONCURRENT_RUNS": "1",  # one run per consecutive range (a split is tested below)
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings({**coldtier_env, **env})
    simulate_history(warm, *FEED, seed=4, trades_per_second=10)
    with dg.instance_for_test() as instance:
        yield settings, instance


def tick(
    settings: Settings, instance: dg.DagsterInstance, now: datetime, cursor: str | None = None
) -> tuple[list[dg.RunRequest], str | None]:
    jobs = build_definitions(settings).jobs
    sensor = build_offload_sensor(settings, list(jobs), clock=lambda: now)  # type: ignore[arg-type]
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"coldtier": ColdtierResource.from_settings(settings)}
    )
    result = sensor.evaluate_tick(context)
    return list(result.run_requests or []), result.cursor


def launch(settings: Settings, instance: dg.DagsterInstance, request: dg.RunRequest) -> bool:
    job = build_definitions(settings).resolve_job_def(request.job_name or "")
    result = job.execute_in_process(
        instance=instance,
        tags=dict(request.tags),
        asset_selection=list(request.asset_selection or []),
        raise_on_error=False,
    )
    return result.success


def add_run(instance: dg.DagsterInstance, request: dg.RunRequest, status: dg.DagsterRunStatus) -> None:
    instance.add_run(
        dg.DagsterRun(
            job_name=request.job_name or "", run_id=str(uuid.uuid4()), status=status, tags=dict(request.tags)
        )
    )


def by_job(requests: list[dg.RunRequest]) -> dict[str, dg.RunRequest]:
    assert len({r.job_name for r in requests}) == len(requests), "one request per job here"
    return {r.job_name or "": r for r in requests}


def test_closed_windows_in_dependency_order_then_nothing(
    world: tuple[Settings, dg.DagsterInstance], catalog: SqlCatalog
) -> None:
    settings, instance = world
    requests, cursor = tick(settings, instance, NOW)
    first = by_job(requests)
    assert set(first) == {"offload_15m"}  # Gold 30m/1h wait for cold Silver; the day is not closed
    request = first["offload_15m"]
    assert request.tags["dagster/asset_partition_range_start"] == "2026-11-24-21:00"
    assert request.tags["dagster/asset_partition_range_end"] == "2026-11-24-22:45"
    assert len(request.asset_selection or []) == 8  # 3 Bronze, Silver, rejected_trades, Gold 1m/5m/15m
    assert cursor and '"offload_15m": "2026-11-24T23:00:00+00:00"' in cursor

    again, _ = tick(settings, instance, NOW, cursor)  # a duplicate tick or a restarted daemon
    assert [r.run_key for r in again] == [r.run_key for r in requests]  # same keys: the daemon skips them

    assert launch(settings, instance, request)
    second = by_job(tick(settings, instance, NOW, cursor)[0])
    assert set(second) == {"offload_30m", "offload_1h"}  # now that cold Silver covers them
    for job_request in second.values():
        assert launch(settings, instance, job_request)
    assert tick(settings, instance, NOW, cursor)[0] == []
    ledger = read_ledger(catalog.load_table(("cold", "gold_ohlcv_1h")))
    assert ledger.watermark == DAY + timedelta(hours=23)


def test_in_flight_windows_are_not_requested_and_failed_ones_are_relaunched(
    world: tuple[Settings, dg.DagsterInstance],
) -> None:
    settings, instance = world
    (request,) = tick(settings, instance, NOW)[0]
    add_run(instance, request, dg.DagsterRunStatus.STARTED)
    assert tick(settings, instance, NOW)[0] == []  # in flight: not requested again

    instance.report_run_failed(instance.get_runs()[0])
    (relaunch,) = tick(settings, instance, NOW)[0]
    assert relaunch.run_key != request.run_key  # a new key, so the daemon launches it
    assert relaunch.run_key and relaunch.run_key.endswith(":1")


def test_catch_up_after_downtime_copies_each_missed_window_once(
    world: tuple[Settings, dg.DagsterInstance], catalog: SqlCatalog
) -> None:
    settings, instance = world
    (request,) = tick(settings, instance, NOW)[0]
    assert launch(settings, instance, request)
    for follow_up in tick(settings, instance, NOW)[0]:
        assert launch(settings, instance, follow_up)
    later = NOW + timedelta(hours=30)  # the daemon was down for 30 hours
    requests, _ = tick(settings, instance, later)
    windows = [r for r in requests if r.job_name == "offload_15m"]
    starts = [r.tags["dagster/asset_partition_range_start"] for r in windows]
    ends = [r.tags["dagster/asset_partition_range_end"] for r in windows]
    assert starts == ["2026-11-24-23:00", "2026-11-25-23:00"] and ends == [
        "2026-11-25-22:45",
        "2026-11-26-04:45",
    ]
    assert {r.job_name for r in requests} == {"offload_15m"}  # longer windows wait for Silver
    for chunk in windows:
        assert launch(settings, instance, chunk)
    follow_ups = tick(settings, instance, later)[0]
    assert {r.job_name for r in follow_ups} == {"offload_30m", "offload_1h", "offload_1d"}
    for follow_up in follow_ups:
        assert launch(settings, instance, follow_up)
    assert tick(settings, instance, later)[0] == []
    for name in ("silver_trades", "gold_ohlcv_1d"):
        ledger = read_ledger(catalog.load_table(("cold", name)))
        assert len(ledger.ranges) == 1  # contiguous: nothing copied twice, nothing missed


def test_healing_sensor_recopies_a_window_with_a_late_trade(
    world: tuple[Settings, dg.DagsterInstance], warm: WarmTier, catalog: SqlCatalog
) -> None:
    settings, instance = world
    (request,) = tick(settings, instance, NOW)[0]
    assert launch(settings, instance, request)
    assert not _heal_requests(settings, instance)

    _add_late_trade(warm, 42)
    heal = _heal_requests(settings, instance)
    assert heal and {r.tags.get("dagster/partition") for r in heal} == {"2026-11-24-22:15"}
    (heal_request,) = heal
    assert {key.path[-1] for key in heal_request.asset_selection or []} >= {
        "bronze_trades_coinbase",
        "silver_trades",
    }
    assert launch(settings, instance, heal_request)
    assert not _heal_requests(settings, instance)
    rows = catalog.load_table(("cold", "silver_trades")).scan(row_filter="trade_id == 42").to_arrow()
    assert rows.num_rows == 1


def test_catch_up_is_cut_into_runs_of_at_most_96_consecutive_windows() -> None:
    from coldtier_assets.defs.sensors.planning import MAX_WINDOWS_PER_RUN, _chunks

    windows = split_windows(DAY, DAY + timedelta(hours=30), timedelta(minutes=15))
    gap = windows[:50] + windows[51:]
    chunks = _chunks(gap, MAX_WINDOWS_PER_RUN)
    assert [len(chunk) for chunk in chunks] == [50, 69]
    assert [len(chunk) for chunk in _chunks(windows, MAX_WINDOWS_PER_RUN)] == [96, 24]


def test_a_catch_up_is_spread_over_the_concurrent_runs_each_tagged_with_its_tables(
    world: tuple[Settings, dg.DagsterInstance], monkeypatch: pytest.MonkeyPatch
) -> None:
    from coldtier_assets.cli.instance import prepare_dagster_home

    settings, instance = world
    monkeypatch.setenv("COLDTIER_MAX_CONCURRENT_RUNS", "4")  # the sensor's resource reads the environment
    monkeypatch.setenv("COLDTIER_MAX_RUNS_PER_TABLE", "3")
    settings = replace(settings, max_concurrent_runs=4, max_runs_per_table=3)
    requests, _ = tick(settings, instance, NOW)
    assert [r.tags["dagster/asset_partition_range_start"] for r in requests] == [
        "2026-11-24-21:00",
        "2026-11-24-21:30",
        "2026-11-24-22:00",
        "2026-11-24-22:30",
    ]  # 8 windows in 4 runs of 2, which the queue runs at once
    for request in requests:
        tables = {key.path[-1] for key in request.asset_selection or []}
        assert {k for k in request.tags if k.startswith("coldtier/table.")} == {
            f"coldtier/table.{name}" for name in tables
        }
    home = prepare_dagster_home(replace(settings, dagster_home=settings.home / "queued"))
    with dg.DagsterInstance.from_config(str(home)) as queued:
        coordinator = queued.run_coordinator
        assert isinstance(coordinator, dg.QueuedRunCoordinator)
        queue = coordinator.get_run_queue_config()
        assert queue.max_concurrent_runs == 4
        assert {"key": "coldtier/table.silver_trades", "limit": 3} in queue.tag_concurrency_limits
        assert len(queue.tag_concurrency_limits) == len(TABLES)


def test_windows_before_the_first_committed_range_are_planned_again(
    world: tuple[Settings, dg.DagsterInstance], warm: WarmTier, catalog: SqlCatalog
) -> None:
    settings, instance = world
    (request,) = tick(settings, instance, NOW)[0]
    assert request.tags["dagster/asset_partition_range_start"] == "2026-11-24-21:00"
    add_run(instance, request, dg.DagsterRunStatus.FAILURE)  # the first chunk failed for good ...
    names = {key.path[-1] for key in request.asset_selection or []}
    offloader = Offloader(settings, warm, lambda: open_catalog(settings))
    for spec in (spec for spec in TABLES if spec.name in names):  # ... while a later one landed
        offloader.offload(spec, DAY + timedelta(hours=22), DAY + timedelta(hours=23), run_id="later")

    retry = by_job([r for r in tick(settings, instance, NOW)[0] if r.job_name == "offload_15m"])[
        "offload_15m"
    ]
    assert retry.tags["dagster/asset_partition_range_start"] == "2026-11-24-21:00"
    assert retry.tags["dagster/asset_partition_range_end"] == "2026-11-24-21:45"
    assert launch(settings, instance, retry)
    assert not [r for r in tick(settings, instance, NOW)[0] if r.job_name == "offload_15m"]
    assert read_ledger(catalog.load_table(("cold", "silver_trades"))).ranges == (
        (int((DAY + timedelta(hours=21)).timestamp()), int((DAY + timedelta(hours=23)).timestamp())),
    )


def test_a_longer_window_length_neither_crashes_planning_nor_healing(
    world: tuple[Settings, dg.DagsterInstance],
    warm: WarmTier,
    coldtier_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings, instance = world
    (request,) = tick(settings, instance, NOW)[0]
    assert launch(settings, instance, request)  # 15-minute windows
    for follow_up in tick(settings, instance, NOW)[0]:
        assert launch(settings, instance, follow_up)

    monkeypatch.setenv("COLDTIER_WINDOW_MINUTES", "30")  # the operator changes the window length
    longer = load_settings({**os.environ, **coldtier_env, "COLDTIER_WINDOW_MINUTES": "30"})
    assert tick(longer, instance, NOW)[0] == []  # every 30-minute window is covered by 15-minute commits
    jobs = list(build_definitions(longer).jobs or [])
    healer = build_healing_sensor(longer, jobs, clock=lambda: NOW)  # type: ignore[arg-type]
    resources = {"coldtier": ColdtierResource.from_settings(longer)}
    context = dg.build_sensor_context(instance=instance, resources=resources)
    assert not healer.evaluate_tick(context).run_requests  # two 15-minute records add up to each window

    warm.command(
        "INSERT INTO bronze_trades_coinbase (trade_id, product_id, price, size, side, time) VALUES "
        "(42, 'BTC-USD', 91000.5, 0.25, 'buy', '2026-11-24 22:20:00.000000')"
    )
    heal = healer.evaluate_tick(dg.build_sensor_context(instance=instance, resources=resources)).run_requests
    assert heal and {r.tags.get("dagster/partition") for r in heal} == {"2026-11-24-22:00"}


def _heal_requests(settings: Settings, instance: dg.DagsterInstance) -> list[dg.RunRequest]:
    """The run requests of one tick of the heal sensor at ``NOW``."""
    jobs = list(build_definitions(settings).jobs or [])
    healer = build_healing_sensor(settings, jobs, clock=lambda: NOW)  # type: ignore[arg-type]
    resources = {"coldtier": ColdtierResource.from_settings(settings)}
    context = dg.build_sensor_context(instance=instance, resources=resources)
    return list(healer.evaluate_tick(context).run_requests or [])


def _add_late_trade(warm: WarmTier, trade_id: int) -> None:
    """A Coinbase trade at 22:20 that arrives after its window was copied."""
    warm.command(
        "INSERT INTO bronze_trades_coinbase (trade_id, product_id, price, size, side, time) VALUES "
        f"({trade_id}, 'BTC-USD', 91000.5, 0.25, 'buy', '2026-11-24 22:20:00.000000')"
    )


def _nothing_to_heal_until_a_late_trade(
    settings: Settings, instance: dg.DagsterInstance, warm: WarmTier, trade_id: int
) -> None:
    """The heal sensor requests nothing; after a late Coinbase trade at 22:20, exactly its window."""
    assert not _heal_requests(settings, instance)
    _add_late_trade(warm, trade_id)
    assert {r.tags.get("dagster/partition") for r in _heal_requests(settings, instance)} == {
        "2026-11-24-22:15"
    }


def test_expired_summaries_do_not_make_every_window_drift(
    world: tuple[Settings, dg.DagsterInstance], warm: WarmTier, catalog: SqlCatalog
) -> None:
    """Found by the soak (#12): after snapshot expiry the healing sensor re-copied the whole lookback.

    Windows whose commit summaries expired are compared with their cold rows instead: nothing to
    heal while they match, and a late trade in such a window is still found.
    """
    from coldtier_assets.maintenance.expiry import expire_snapshots
    from coldtier_assets.maintenance.policy import MaintenancePolicy

    settings, instance = world
    (request,) = tick(settings, instance, NOW)[0]
    assert launch(settings, instance, request)
    policy = MaintenancePolicy(snapshot_max_age=timedelta(0), min_snapshots_to_keep=1)
    for spec in TABLES:
        expire_snapshots(catalog, ("cold", spec.name), datetime.now(UTC), policy)
    silver = catalog.load_table(("cold", "silver_trades"))
    assert len(silver.metadata.snapshots) == 1  # every window's summary but the last one is gone

    _nothing_to_heal_until_a_late_trade(settings, instance, warm, trade_id=43)


def _release_1_row_hash(schema: Schema) -> str:
    """The row hash release 1 recorded its checksums with: decimals hashed as their text."""
    terms = [
        f"toString(`{field.name}`)" if isinstance(field.field_type, DecimalType) else _hash_term(field)
        for field in schema.fields
        if field.name not in INGESTION_COLUMNS
    ]
    return f"cityHash64({', '.join(terms)})"


def test_checksums_recorded_under_the_previous_row_hash_are_not_compared(
    world: tuple[Settings, dg.DagsterInstance], warm: WarmTier, catalog: SqlCatalog
) -> None:
    """A table copied by release 1 recorded checksums of another row hash than this release computes.

    Its Silver windows are committed again as release 1 committed them (same rows; figures under the
    text hash; no ``coldtier.row-hash``). Those figures differ from this release's for the same rows,
    so comparing them would heal every window; they count as unknown instead, and the windows are
    compared with their cold rows: nothing to heal while they match, and a late trade is still found.
    """
    settings, instance = world
    (request,) = tick(settings, instance, NOW)[0]
    assert launch(settings, instance, request)
    silver = catalog.load_table(("cold", "silver_trades"))
    windows = split_windows(*FEED, timedelta(minutes=15))
    source = check_source(warm, get_table("silver_trades"), silver.schema())
    release_1, current = _release_1_row_hash(silver.schema()), row_hash_expression(silver.schema())
    for window in windows:
        where = f"{source.from_clause} WHERE {source.window_predicate(window)}"
        ((rows, old_sum, new_sum),) = warm.rows(f"SELECT count(), sum({release_1}), sum({current}) {where}")
        assert int(str(rows)) > 0 and old_sum != new_sum  # the two hashes really differ
        properties = {
            PREFIX + "window-start": window.start.isoformat(),
            PREFIX + "window-end": window.end.isoformat(),
            PREFIX + "source-rows": str(rows),
            PREFIX + "source-checksum": f"{int(str(old_sum)):016x}",
        }
        cold_rows = silver.scan(row_filter=window_filter("trade_time", window)).to_arrow()
        with silver.transaction() as transaction:
            transaction.overwrite(
                cold_rows,
                overwrite_filter=window_filter("trade_time", window),
                snapshot_properties=properties,
            )
        silver = catalog.load_table(("cold", "silver_trades"))
    recorded = recorded_checksums(catalog.load_table(("cold", "silver_trades")), timedelta(minutes=15))
    assert all(recorded.get(window.start) is None for window in windows)

    _nothing_to_heal_until_a_late_trade(settings, instance, warm, trade_id=44)


def test_a_failed_check_stays_healed_after_its_heal_run_dies_before_checking(
    world: tuple[Settings, dg.DagsterInstance], warm: WarmTier
) -> None:
    """Found by the soak (#12): Dagster marks a run's checks planned when the run is created.

    The planned record became the partition's latest, so once a heal run of a window whose candle
    check had failed was killed before its checks ran, the window was never requested again.
    """
    from coldtier_assets.defs.sensors.planning import Request
    from coldtier_assets.offload.windows import Window

    settings, instance = world
    (request,) = tick(settings, instance, NOW)[0]
    assert launch(settings, instance, request)
    for follow_up in tick(settings, instance, NOW)[0]:  # the 30-minute and hourly candles
        assert launch(settings, instance, follow_up)
    warm.command(
        "INSERT INTO bronze_trades_coinbase (trade_id, product_id, price, size, side, time) VALUES "
        "(44, 'BTC-USD', 91000.5, 0.25, 'buy', '2026-11-24 22:20:00.000000')"
    )
    # Gold re-copied before cold Silver has the late trade: its candle check fails (as in the soak)
    window = Window(DAY + timedelta(hours=22), DAY + timedelta(hours=22, minutes=30))
    early = Request("offload_30m", (window,), ("gold_ohlcv_30m",), "heal").run_request(0)
    assert not launch(settings, instance, early)
    jobs = list(build_definitions(settings).jobs or [])
    healer = build_healing_sensor(settings, jobs, clock=lambda: NOW)  # type: ignore[arg-type]
    resources = {"coldtier": ColdtierResource.from_settings(settings)}

    def heal() -> dict[str, dg.RunRequest]:
        context = dg.build_sensor_context(instance=instance, resources=resources)
        return {r.job_name or "": r for r in healer.evaluate_tick(context).run_requests or []}

    assert launch(settings, instance, heal()["offload_15m"])  # cold Silver gets the late trade
    retry = heal()["offload_30m"]
    assert retry.tags["dagster/partition"] == "2026-11-24-22:00"

    # the heal run is created (its checks planned), then its worker dies before the checks run
    job = build_definitions(settings).resolve_job_def("offload_30m")
    run = instance.create_run_for_job(
        job, tags=dict(retry.tags), asset_selection=set(retry.asset_selection or [])
    )
    instance.report_run_failed(run)

    again = heal().get("offload_30m")
    assert again is not None and again.tags["dagster/partition"] == "2026-11-24-22:00"
    assert again.run_key != retry.run_key  # a fresh key: the dead run counts as a failed attempt
    assert launch(settings, instance, again)
    assert "offload_30m" not in heal()
