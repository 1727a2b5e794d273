"""The latest asset-check outcome per cold table, read from the Dagster instance (for `status`)."""

from __future__ import annotations

from dataclasses import replace

from coldtier_assets.config import Settings
from coldtier_assets.defs.assets.keys import cold_key
from coldtier_assets.offload.status import TableStatus
from coldtier_assets.tables import TABLES


def latest_check_results(settings: Settings) -> dict[str, str]:
    """Per table: ``passed``/``FAILED …``/``-`` from the newest evaluation of each of its checks."""
    if not (settings.dagster_home / "dagster.yaml").exists():
        return {}
    import dagster as dg

    from coldtier_assets.defs.checks.asset_checks import check_names

    results: dict[str, str] = {}
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        for spec in TABLES:
            keys = [dg.AssetCheckKey(cold_key(spec), name) for name in check_names(spec)]
            latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
            if not latest:
                results[spec.name] = "-"
                continue
            failed = sorted(key.name for key, record in latest.items() if record.status.value == "FAILED")
            results[spec.name] = f"FAILED {', '.join(failed)}" if failed else f"passed ({len(latest)})"
    return results


def with_check_results(settings: Settings, statuses: list[TableStatus]) -> list[TableStatus]:
    """The statuses with each table's latest asset-check outcome from the Dagster instance."""
    results = latest_check_results(settings)
    return [replace(status, last_check=results.get(status.table, "-")) for status in statuses]
