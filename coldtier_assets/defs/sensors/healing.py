"""What the healing sensor should launch: copied windows whose warm rows changed or whose check failed.

Plain inputs, like ``planning.py``: the ledgers and commit summaries say what each copied window
holds, ClickHouse says what it holds now, the Dagster instance says which checks failed.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import cast

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from coldtier_assets.config import Settings
from coldtier_assets.defs.assets.keys import cold_key
from coldtier_assets.defs.checks.asset_checks import CANDLES, CONSISTENCY
from coldtier_assets.defs.jobs import offload_job_name, tables_by_window
from coldtier_assets.defs.partitions import PARTITION_FORMAT
from coldtier_assets.defs.sensors.planning import Request, in_flight_windows, load_table, same_job
from coldtier_assets.offload.recorded import recorded_checksums
from coldtier_assets.offload.sink import read_ledger
from coldtier_assets.offload.source import check_source
from coldtier_assets.offload.verify import cold_window_checksums, warm_window_checksums
from coldtier_assets.offload.windows import Window, closed_window_end, split_windows
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.resources.warm_reader import WarmReader
from coldtier_assets.tables import TableSpec


def plan_healing(
    settings: Settings,
    warm: WarmReader,
    catalog: Catalog,
    instance: dg.DagsterInstance,
    now: datetime,
    lookback: timedelta,
) -> list[Request]:
    """Requests for copied windows that need copying again.

    Those whose warm rows changed since the copy (late or resent trades), and those whose latest
    consistency or candle check failed.
    """
    requests: list[Request] = []
    drifting: dict[str, set[datetime]] = {}
    for length, specs in tables_by_window(settings).items():
        job = offload_job_name(length)
        closed_end = closed_window_end(now, length, settings.allowed_lateness)
        begin = closed_end - lookback
        begin -= timedelta(seconds=begin.timestamp() % length.total_seconds())
        windows = split_windows(max(begin, settings.start), closed_end, length) if begin < closed_end else []
        busy = in_flight_windows(instance, job, length)
        by_window: dict[Window, list[str]] = {}
        suffix: dict[Window, str] = {}
        for spec in specs:
            table = load_table(catalog, settings, spec)
            ledger = read_ledger(table)
            committed = [w for w in windows if ledger.covers(w) and w.start not in busy]
            if not committed:
                continue
            warm_now = warm_window_checksums(warm, check_source(warm, spec, table.schema()), committed)
            expected_of = _expected_figures(settings, warm, table, spec, committed, warm_now, length)
            failed = _failed_check_partitions(instance, spec)
            for window in committed:
                expected = expected_of[window]
                drift = expected is not None and warm_now[window] != expected and warm_now[window][0] > 0
                if drift:
                    drifting.setdefault(spec.name, set()).add(window.start)
                if (drift or window.start.strftime(PARTITION_FORMAT) in failed) and not _upstream_drifting(
                    spec, window, drifting, settings
                ):
                    by_window.setdefault(window, []).append(spec.name)
                    digest = hashlib.sha1(repr(warm_now[window]).encode()).hexdigest()[:8]
                    suffix[window] = suffix.get(window, "") + digest
        for window, tables in sorted(by_window.items()):
            requests.append(
                Request(job, (window,), tuple(sorted(tables)), "heal", key_suffix=suffix[window][:16])
            )
    return requests


def _expected_figures(
    settings: Settings,
    warm: WarmReader,
    table: Table,
    spec: TableSpec,
    committed: list[Window],
    warm_now: dict[Window, tuple[int, int]],
    length: timedelta,
) -> dict[Window, tuple[int, int] | None]:
    """What each committed window holds: the figures its commits recorded, else the cold rows' own.

    Snapshot expiry (or another engine's commits) can remove every summary of a window; taking
    such a window as empty made every non-empty one "drift", so one expiry re-copied the whole heal
    lookback of every table. Those windows are compared with their cold rows instead (one query).
    """
    recorded = recorded_checksums(table, length)
    # no summary left, or summaries that cannot tell (a batch straddling the window): ask the cold rows
    unknown = [w for w in committed if recorded.get(w.start) is None and warm_now[w][0] > 0]
    # the cold query runs in coldtier's chDB worker process (embedded) or on the server through ``warm``
    cold = cold_window_checksums(settings, cast(WarmTier, warm), table, spec, unknown) if unknown else {}
    return {w: cold[w] if w in cold else recorded.get(w.start) or (0, 0) for w in committed}


def _upstream_drifting(
    spec: TableSpec, window: Window, drifting: dict[str, set[datetime]], settings: Settings
) -> bool:
    """A longer Gold window waits while a Silver window inside it is still being healed."""
    return any(
        window.start <= start < window.end
        for upstream in spec.upstream
        if not same_job(spec, upstream, settings)
        for start in drifting.get(upstream, set())
    )


def _failed_check_partitions(instance: dg.DagsterInstance, spec: TableSpec) -> set[str]:
    """Partitions whose latest consistency or candle check failed, or never ran because its run died.

    Dagster records a run's checks as planned when the run is created, and that record becomes the
    partition's latest: a heal run of a window whose check had failed, killed (or failed) before its
    checks ran, hid the failure for good and the window was never requested again (the soak, #12:
    ``gold_ohlcv_5m`` 14:30). A window whose checks did not run after its last copy is unverified, so
    it is requested again like a failed one.
    """
    keys = [dg.AssetCheckKey(cold_key(spec), CONSISTENCY)]
    if spec.layer == "gold":
        keys.append(dg.AssetCheckKey(cold_key(spec), CANDLES))
    infos = [
        info for info in instance.event_log_storage.get_asset_check_partition_info(keys) if info.partition_key
    ]
    failed = {
        cast(str, info.partition_key)
        for info in infos
        if info.latest_execution_status == AssetCheckExecutionRecordStatus.FAILED
    }
    planned = [
        info for info in infos if info.latest_execution_status == AssetCheckExecutionRecordStatus.PLANNED
    ]
    if planned:
        died = {
            run.run_id
            for run in instance.get_runs(
                filters=dg.RunsFilter(
                    run_ids=sorted({info.latest_planned_run_id for info in planned}),
                    statuses=[dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED],
                )
            )
        }
        failed |= {cast(str, info.partition_key) for info in planned if info.latest_planned_run_id in died}
    return failed
