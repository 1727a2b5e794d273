"""Check results recorded per partition, also in runs that copy a range of partitions.

Dagster 1.13 records an ``AssetCheckResult`` against a partition only when the run has a single
partition key (``AssetCheckResult.to_asset_check_evaluation`` uses ``step_context.partition_key``).
In a partition-range run (our sensors and backfills copy up to 96 windows per run) the result is
stored once with no partition, while the run's planned per-partition rows stay ``PLANNED``; once the
run ends Dagster resolves them as ``SKIPPED``, and the Checks tab, which aggregates the partition
statuses (any skipped partition makes the check "Skipped"), shows every check as Skipped.

So the asset yields one ``AssetCheckEvaluation`` per partition of the run instead, each pointing
at that partition's materialization (Dagster counts a partition's check as current only when it
targets the partition's latest materialization), plus the check's output so that downstream
steps gated by a blocking check still run.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from coldtier_assets.defs.checks.asset_checks import CheckOutcome


def _partition_starts(
    partitions: dg.TimeWindowPartitionsDefinition, keys: Sequence[str]
) -> dict[str, datetime]:
    return {key: partitions.time_window_for_partition_key(key).start for key in keys}


def latest_materializations(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, keys: Sequence[str]
) -> dict[str, AssetCheckEvaluationTargetMaterializationData]:
    """The latest materialization of each partition in ``keys`` (what each check evaluation targets)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=list(keys)), limit=len(keys)
    ).records
    latest: dict[str, AssetCheckEvaluationTargetMaterializationData] = {}
    for record in records:  # newest first
        if record.partition_key and record.partition_key not in latest:
            latest[record.partition_key] = AssetCheckEvaluationTargetMaterializationData(
                storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
            )
    return latest


def partition_check_events(
    context: dg.AssetExecutionContext,
    asset_key: dg.AssetKey,
    outcomes: Iterable[CheckOutcome],
) -> Iterator[dg.AssetCheckEvaluation | dg.Output[None]]:
    """One evaluation per (check, partition of the run), then the check's output."""
    partitions = context.assets_def.specs_by_key[asset_key].partitions_def
    assert isinstance(partitions, dg.TimeWindowPartitionsDefinition), asset_key
    keys = list(context.partition_keys)
    starts = _partition_starts(partitions, keys)
    targets = latest_materializations(context.instance, asset_key, keys)
    span = keys[0] if len(keys) == 1 else f"{keys[0]} .. {keys[-1]}"
    for outcome in outcomes:
        check_key = dg.AssetCheckKey(asset_key, outcome.check_name)
        blocking = context.assets_def.get_spec_for_check_key(check_key).blocking
        for key in keys:
            yield dg.AssetCheckEvaluation(
                asset_key=asset_key,
                check_name=outcome.check_name,
                passed=outcome.passed_for(starts[key]),
                metadata={**outcome.metadata, "run_partitions": span},
                target_materialization_data=targets.get(key),
                blocking=blocking,
                partition=key,
            )
        yield dg.Output(None, output_name=context.assets_def.get_output_name_for_asset_check_key(check_key))
