"""Asset checks of every cold table, evaluated per partition in the run that copies it.

* ``warm_cold_consistency`` (blocking): rows and content checksum, ClickHouse vs Iceberg; windows
  already purged from ClickHouse are reported as such, not failed.
* ``no_duplicate_keys`` (blocking): each natural key once in the cold table.
* ``schema_matches_ddl``: cold and warm schemas against ``ddl/``.
* ``candles_match_silver`` (Gold, blocking): candles re-derived from cold Silver equal cold Gold.
* ``bronze_equals_silver_plus_rejected`` (on ``rejected_trades``): per exchange and window, every
  Bronze trade is in Silver or quarantined, exactly once (warm tier, FINAL).

Blocking checks stop downstream assets in the same run; across runs, Gold refuses to copy while
Silver's latest consistency check failed (see :func:`upstream_problems`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from pyiceberg.table import Table

from coldtier_assets.config import Settings
from coldtier_assets.defs.assets.keys import cold_key
from coldtier_assets.defs.partitions import partitions_for
from coldtier_assets.defs.resources import ColdtierResource
from coldtier_assets.errors import ColdtierError
from coldtier_assets.offload.cold_engine import cold_rows_batch
from coldtier_assets.offload.quality import (
    candle_comparisons,
    candle_sqls,
    duplicate_key_sql,
    schema_problems,
)
from coldtier_assets.offload.quarantine import account_trades
from coldtier_assets.offload.sink import read_ledger
from coldtier_assets.offload.verify import Verdict, by_window, cold_checksum_sql, verify_windows
from coldtier_assets.offload.windows import Window, split_windows
from coldtier_assets.redact import redact
from coldtier_assets.tables import REJECTED_TABLE, TableSpec, get_table

CONSISTENCY = "warm_cold_consistency"
DUPLICATES = "no_duplicate_keys"
SCHEMA = "schema_matches_ddl"
CANDLES = "candles_match_silver"
ACCOUNTED = "bronze_equals_silver_plus_rejected"


def check_specs(spec: TableSpec, settings: Settings) -> list[dg.AssetCheckSpec]:
    """The checks of one cold table, partitioned like the table (per-partition results)."""
    with warnings.catch_warnings():  # partitioned checks are "preview" in Dagster 1.13; we rely on them
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return _check_specs(spec, settings)


def check_names(spec: TableSpec) -> list[str]:
    """The names of the checks a table has (Gold also compares its candles with cold Silver)."""
    return (
        [CONSISTENCY, DUPLICATES, SCHEMA]
        + ([CANDLES] if spec.layer == "gold" else [])
        + ([ACCOUNTED] if spec.name == REJECTED_TABLE else [])
    )


def _check_specs(spec: TableSpec, settings: Settings) -> list[dg.AssetCheckSpec]:
    partitions = partitions_for(spec, settings)
    described = {
        CONSISTENCY: (
            True,
            "Rows and content checksum equal in ClickHouse and Iceberg (purged windows reported).",
        ),
        DUPLICATES: (
            True,
            f"Each natural key ({', '.join(spec.natural_key)}) at most once in the cold table.",
        ),
        SCHEMA: (False, "Cold Iceberg schema and warm ClickHouse columns match ddl/."),
        CANDLES: (True, "Candles re-derived from cold Silver equal cold Gold."),
        ACCOUNTED: (
            False,
            "Per exchange and window: Bronze trades = Silver trades + rejected trades (ClickHouse, FINAL).",
        ),
    }
    return [
        dg.AssetCheckSpec(
            name,
            asset=cold_key(spec),
            blocking=described[name][0],
            partitions_def=partitions,
            description=described[name][1],
        )
        for name in check_names(spec)
    ]


@dataclass(frozen=True)
class CheckOutcome:
    """One check evaluated over a run's span, with the windows it failed for.

    ``failed_windows`` is None when a failure concerns the whole span (duplicates, schema drift, a
    warm table that cannot be compared); otherwise only the listed window starts failed.
    """

    check_name: str
    passed: bool
    metadata: Mapping[str, dg.RawMetadataValue]
    failed_windows: frozenset[datetime] | None = None

    @classmethod
    def per_window(
        cls, check_name: str, failed: list[Window], metadata: Mapping[str, dg.RawMetadataValue]
    ) -> CheckOutcome:
        """An outcome judged window by window: it fails for exactly the ``failed`` windows."""
        return cls(check_name, not failed, metadata, frozenset(window.start for window in failed))

    def passed_for(self, window_start: datetime) -> bool:
        """Whether the check passed for the window (partition) starting at ``window_start``."""
        if self.passed:
            return True
        return self.failed_windows is not None and window_start not in self.failed_windows


def _windows(spec: TableSpec, settings: Settings, span: Window) -> list[Window]:
    return split_windows(span.start, span.end, spec.window(settings.window))


def _fmt(window: Window) -> str:
    return f"{window.start:%Y-%m-%d %H:%M}"


def evaluate_checks(
    selected: set[dg.AssetCheckKey], coldtier: ColdtierResource, spec: TableSpec, span: Window
) -> Iterator[CheckOutcome]:
    """Evaluate the selected checks of ``spec`` over the run's partition span.

    Every query over the cold files goes to ClickHouse in one batch (one child process when embedded).
    """
    settings, warm = coldtier.settings, coldtier.warm
    catalog = coldtier.catalog()
    table = catalog.load_table((settings.namespace, spec.name))
    windows = _windows(spec, settings, span)
    key = cold_key(spec)
    wanted = {check.name for check in selected if check.asset_key == key}
    queries: dict[str, str] = {}
    if CONSISTENCY in wanted:
        queries[CONSISTENCY] = cold_checksum_sql(table, spec, windows)
    if DUPLICATES in wanted:
        queries[DUPLICATES] = duplicate_key_sql(table, spec, span)
    length = 0
    if CANDLES in wanted:
        queries["derived"], queries[CANDLES], length = candle_sqls(settings, catalog, spec, windows)
    answers = dict(zip(queries, cold_rows_batch(settings, warm, list(queries.values())), strict=True))

    if CONSISTENCY in wanted:
        yield _consistency_outcome(coldtier, table, spec, windows, answers[CONSISTENCY])
    if DUPLICATES in wanted:
        extra = int(str(answers[DUPLICATES][0][0]))
        yield CheckOutcome(DUPLICATES, passed=extra == 0, metadata={"duplicate_rows": extra})
    if SCHEMA in wanted:
        problems = schema_problems(warm, table, spec)
        yield CheckOutcome(
            SCHEMA,
            passed=not problems,
            metadata={"problems": "; ".join(problems) or "none"},
        )
    if CANDLES in wanted:
        yield _candles_outcome(windows, answers["derived"], answers[CANDLES], length)
    if ACCOUNTED in wanted:
        yield accounting_result(coldtier, spec, windows)


def _consistency_outcome(
    coldtier: ColdtierResource,
    table: Table,
    spec: TableSpec,
    windows: list[Window],
    cold_rows: list[list[object]],
) -> CheckOutcome:
    """Warm against cold per window (count and checksum); purged windows are reported, not failed."""
    settings, warm = coldtier.settings, coldtier.warm
    cold_figures = by_window(cold_rows, windows, int(spec.window(settings.window).total_seconds()))
    try:
        results = verify_windows(settings, warm, table, spec, windows, cold=cold_figures)
    except ColdtierError as error:  # e.g. the warm table drifted: the tiers cannot be compared
        return CheckOutcome(CONSISTENCY, passed=False, metadata={"error": redact(str(error))})
    bad = [r for r in results if r.verdict in (Verdict.MISMATCH, Verdict.NOT_COPIED)]
    purged = [r for r in results if r.verdict is Verdict.PURGED]
    return CheckOutcome.per_window(
        CONSISTENCY,
        [r.window for r in bad],
        {
            "windows": len(results),
            "matched": sum(r.verdict is Verdict.MATCH for r in results),
            "purged_from_warm": ", ".join(_fmt(r.window) for r in purged) or "none",
            "mismatched": ", ".join(f"{_fmt(r.window)} ({r.verdict.value})" for r in bad) or "none",
            "warm_rows": sum(r.warm_rows for r in results),
            "cold_rows": sum(r.cold_rows for r in results),
        },
    )


def _candles_outcome(
    windows: list[Window], derived: list[list[object]], stored: list[list[object]], length: int
) -> CheckOutcome:
    """Gold's cold candles against candles re-derived from cold Silver, per window."""
    comparisons = candle_comparisons(windows, derived, stored, length)
    wrong = [c for c in comparisons if not c.ok]
    return CheckOutcome.per_window(
        CANDLES,
        [c.window for c in wrong],
        {
            "windows": len(comparisons),
            "candles": sum(c.cold[0] for c in comparisons),
            "differing_windows": ", ".join(_fmt(c.window) for c in wrong) or "none",
        },
    )


def accounting_result(coldtier: ColdtierResource, spec: TableSpec, windows: list[Window]) -> CheckOutcome:
    """The ``bronze_equals_silver_plus_rejected`` result: per exchange, windows that do not add up."""
    accounts = account_trades(coldtier.warm, windows)
    wrong = [account for account in accounts if not account.ok]
    metadata: dict[str, dg.RawMetadataValue] = {
        "windows": len(windows),
        "differing": ", ".join(
            f"{a.exchange} {_fmt(a.window)}: bronze {a.bronze} != silver {a.silver} + rejected {a.rejected}"
            for a in wrong
        )
        or "none",
    }
    for exchange in sorted({account.exchange for account in accounts}):
        mine = [account for account in accounts if account.exchange == exchange]
        metadata[f"rejected_{exchange}"] = sum(account.rejected for account in mine)
        metadata[f"bronze_{exchange}"] = sum(account.bronze for account in mine)
    del spec  # the invariant spans the three exchanges, whichever table carries the check
    return CheckOutcome.per_window(ACCOUNTED, [account.window for account in wrong], metadata)


def upstream_problems(
    instance: dg.DagsterInstance, coldtier: ColdtierResource, spec: TableSpec, span: Window
) -> list[str]:
    """Why ``spec`` must not copy ``span`` yet: upstream windows not committed or failing consistency."""
    problems = []
    for upstream_name in spec.upstream:
        upstream = get_table(upstream_name)
        table = coldtier.catalog().load_table((coldtier.settings.namespace, upstream.name))
        missing = list(read_ledger(table).missing(_windows(upstream, coldtier.settings, span)))
        if missing:
            problems.append(
                f"{upstream.name}: {len(missing)} window(s) not copied yet, first {_fmt(missing[0])}"
            )
        check_key = dg.AssetCheckKey(cold_key(upstream), CONSISTENCY)
        partitions = partitions_for(upstream, coldtier.settings)
        keys = partitions.get_partition_keys_in_range(
            dg.PartitionKeyRange(
                partitions.get_partition_key_for_timestamp(span.start.timestamp()),
                partitions.get_partition_key_for_timestamp((span.end.timestamp()) - 1),
            )
        )
        infos = instance.event_log_storage.get_asset_check_partition_info([check_key], partition_keys=keys)
        failed = [
            info.partition_key
            for info in infos
            if info.partition_key and info.latest_execution_status == AssetCheckExecutionRecordStatus.FAILED
        ]
        if failed:
            problems.append(f"{upstream.name}: consistency check failed for {', '.join(sorted(failed)[:5])}")
    return problems


def span_of(context: dg.AssetExecutionContext) -> Window:
    """The run's partition span as a window."""
    window = context.partition_time_window
    return Window(window.start, window.end)
