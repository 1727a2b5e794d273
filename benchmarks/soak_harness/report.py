"""The soak report: JSON for machines, one Markdown table row for ``benchmarks/RESULTS.md``."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path

from benchmarks.soak_harness.faults import KINDS, FaultRecord
from benchmarks.soak_harness.monitor import Monitor
from benchmarks.soak_harness.verify import Verification

#: Every anomaly kind the report counts (zeros included, so "0" is an explicit claim).
ANOMALY_KINDS: tuple[str, ...] = (
    "missing",
    "duplicated",
    "extra",
    "content mismatch",
    "checksum mismatch",
    "uncopied window",
    "gold mismatch",
    "dangling file",
    "watermark regression",
)


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (nearest rank) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))], 1)


def cold_lags(
    monitor: Monitor, verification: Verification, windows: dict[str, timedelta], after: datetime
) -> list[float]:
    """Seconds from window end to its first commit, for verified windows ending after ``after``."""
    lags: list[float] = []
    for table, commits in monitor.first_commit.items():
        length = windows[table]
        if not verification.windows.get(table):
            continue
        for start, committed in commits.items():
            end = start + length
            if end >= after:
                lags.append((committed - end).total_seconds())
    return lags


def build_report(
    *,
    minutes: float,
    seed: int,
    command: str,
    records: list[FaultRecord],
    monitor: Monitor,
    verification: Verification,
    lags: list[float],
    extra: dict[str, object],
) -> dict[str, object]:
    """Assemble the JSON report."""
    injected = Counter(record.kind for record in records if record.skipped is None)
    anomalies = dict.fromkeys(ANOMALY_KINDS, 0)
    for kind, count in verification.by_kind().items():
        anomalies[kind] = anomalies.get(kind, 0) + count
    anomalies["watermark regression"] = len(monitor.regressions)
    phases = Counter(
        str(r.detail.get("phase")) for r in records if r.kind == "run_worker_kill" and r.skipped is None
    )
    recovery = {
        kind: {
            "recovered": len(monitor.recoveries.get(kind, [])),
            "p50_seconds": percentile(monitor.recoveries.get(kind, []), 0.5),
            "max_seconds": round(max(monitor.recoveries.get(kind, [0.0])), 1)
            if monitor.recoveries.get(kind)
            else None,
            "not_recovered": sum(1 for p in monitor.unrecovered if p.kind == kind),
        }
        for kind in KINDS
        if injected.get(kind)
    }
    return {
        "minutes": round(minutes, 1),
        "seed": seed,
        "command": command,
        "faults_injected": {kind: injected.get(kind, 0) for kind in KINDS},
        "faults_total": sum(injected.values()),
        "faults_skipped": dict(Counter(r.kind for r in records if r.skipped is not None)),
        "run_worker_kill_phases": dict(phases),
        "windows_verified": sum(verification.windows.values()),
        "rows_verified": sum(verification.rows.values()),
        "per_table": {
            t: {"windows": w, "rows": verification.rows.get(t, 0)} for t, w in verification.windows.items()
        },
        "gold_candles_recomputed": verification.gold_candles_recomputed,
        "files_checked": verification.files_checked,
        "anomalies": anomalies,
        "anomalies_total": sum(anomalies.values()),
        "anomaly_details": [asdict(a) for a in verification.anomalies]
        + [asdict(r) for r in monitor.regressions],
        "cold_lag_seconds": {
            "windows": len(lags),
            "p50": percentile(lags, 0.5),
            "p95": percentile(lags, 0.95),
            "max": round(max(lags), 1) if lags else None,
        },
        "recovery_seconds": recovery,
        "watermark_rebases": [asdict(r) for r in monitor.rebases],
        "monitor_samples": {"ok": monitor.samples, "failed": monitor.failed_samples},
        "fault_log": [asdict(record) for record in records],
        **extra,
    }


def write_report(report: dict[str, object], path: Path) -> None:
    """Write the report as indented JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")


def results_row(report: dict[str, object], date: str) -> str:
    """One Markdown table row: date, minutes, faults, windows/rows verified, anomalies, lag, recovery."""
    faults = report["faults_injected"]
    assert isinstance(faults, dict)
    kinds = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in faults.items() if v)
    lag = report["cold_lag_seconds"]
    assert isinstance(lag, dict)
    return (
        f"| {date} | {report['minutes']} | {report['seed']} | {report['faults_total']} ({kinds}) | "
        f"{report['windows_verified']:,} / {report['rows_verified']:,} | **{report['anomalies_total']}** | "
        f"{lag['p50']} / {lag['p95']} / {lag['max']} |"
    )
