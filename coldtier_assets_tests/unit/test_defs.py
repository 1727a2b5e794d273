"""Snapshot of the Dagster definitions: a change to the graph is a reviewed diff of defs.json.

Covers asset keys, deps, kinds, groups, partitions, freshness, checks (blocking or not), jobs,
sensors and schedules. After an intended change, regenerate with
``UPDATE_SNAPSHOTS=1 pytest coldtier_assets_tests/unit/test_defs.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from coldtier_assets.config import load_settings
from coldtier_assets.definitions import build_definitions

SNAPSHOT = Path(__file__).parent / "snapshots" / "defs.json"
REPO = Path(__file__).resolve().parents[2]


def _partitions(definition: dg.PartitionsDefinition | None) -> str | None:
    if definition is None:
        return None
    if isinstance(definition, dg.TimeWindowPartitionsDefinition):
        return (
            f"time windows: {definition.cron_schedule} from {definition.start:%Y-%m-%d} {definition.timezone}"
        )
    return type(definition).__name__


def _freshness(spec: dg.AssetSpec) -> str | None:
    policy = spec.freshness_policy
    if policy is None:
        return None
    warn, fail = getattr(policy, "warn_window", None), getattr(policy, "fail_window", None)
    return f"warn after {warn.to_timedelta() if warn else None}, fail after {fail.to_timedelta() if fail else None}"


def describe(definitions: dg.Definitions) -> dict[str, Any]:
    """A stable, JSON-ready description of everything a reviewer of the graph cares about."""
    graph = definitions.resolve_asset_graph()
    assets = {}
    for spec in sorted(definitions.resolve_all_asset_specs(), key=lambda s: s.key.to_user_string()):
        checks = sorted(
            (graph.get_check_spec(key) for key in graph.asset_check_keys if key.asset_key == spec.key),
            key=lambda check: check.name,
        )
        assets[spec.key.to_user_string()] = {
            "group": spec.group_name,
            "kinds": sorted(spec.kinds),
            "deps": sorted(dep.asset_key.to_user_string() for dep in spec.deps),
            "partitions": _partitions(spec.partitions_def),
            "freshness": _freshness(spec),
            "checks": {check.name: {"blocking": check.blocking} for check in checks},
        }
    return {
        "assets": assets,
        "jobs": sorted(
            job.name for job in definitions.resolve_all_job_defs() if not job.name.startswith("__")
        ),
        "sensors": {
            sensor.name: {
                "jobs": sorted(job.name for job in sensor.jobs) if sensor.has_jobs else [],
                "default_status": sensor.default_status.value,
            }
            for sensor in (definitions.resolve_sensor_def(s.name) for s in definitions.sensors or [])
        },
        "schedules": sorted(
            (schedule.name, schedule.cron_schedule, schedule.job_name)
            for schedule in (definitions.resolve_schedule_def(s.name) for s in definitions.schedules or [])
        ),
    }


def test_definitions_match_the_reviewed_snapshot(tmp_path: Path) -> None:
    settings = load_settings({"COLDTIER_HOME": str(tmp_path)})
    current = json.loads(json.dumps(describe(build_definitions(settings)), default=str))
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    assert current == expected, "the graph changed: review it, then regenerate with UPDATE_SNAPSHOTS=1"


@pytest.mark.integration
def test_dg_check_defs_loads_the_project(tmp_path: Path) -> None:
    """Dagster's own project tooling (`dg`, configured in [tool.dg]) loads the definitions."""
    dg_cli = Path(sys.executable).with_name("dg")
    completed = subprocess.run(
        [str(dg_cli), "check", "defs"],
        cwd=REPO,
        env={**os.environ, "COLDTIER_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "All definitions loaded successfully" in completed.stdout + completed.stderr
