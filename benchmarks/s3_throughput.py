"""Offload to S3 against ClickHouse's own Parquet export to the same S3 server, and peak RSS (#11 item 5).

For each window size (default 1M and 3M Silver-shaped rows in one 15-minute window):
  * baseline: ClickHouse (chDB) writes the window straight to S3 itself:
    ``INSERT INTO FUNCTION s3('<endpoint>/<bucket>/baseline/….parquet', …, 'Parquet') SELECT … FINAL``
    (zstd), one object, nothing else;
  * coldtier: the offload core copies the same window into the Iceberg table in
    ``s3://<bucket>/warehouse`` (read in slices, Parquet files to S3, one Iceberg commit).
Both write to the same moto server (``moto_server`` on a loopback port, started here), each side in
its own process so its peak RSS (VmHWM) is its own. moto is a Python server keeping objects in
memory: absolute rates are bounded by it; the ratio of the two sides is what this measures.

Usage: .venv/bin/python benchmarks/s3_throughput.py [--rows 1000000 3000000] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from offload_throughput import (  # noqa: E402
    WINDOW,
    WINDOW_START,
    child_offload,
    peak_rss_mib,
    prepare,
    run_child,
)


def child_baseline_s3(home: Path) -> dict[str, float]:
    """ClickHouse's own export of the window as one zstd Parquet object, written by chDB to S3."""
    from coldtier_assets.config import load_settings
    from coldtier_assets.offload.cold_location import sql_string
    from coldtier_assets.resources.clickhouse import WarmTier

    settings = load_settings()
    s3 = settings.s3
    bucket = settings.warehouse.removeprefix("s3://").split("/", 1)[0]
    url = f"{s3.endpoint}/{bucket}/baseline/{home.name}.parquet"
    credentials = [sql_string(s3.access_key_id or ""), sql_string(s3.secret_access_key or "")]
    warm = WarmTier(settings.warm_dsn)
    began = time.perf_counter()
    with warm.session() as client:
        client.command(
            f"INSERT INTO FUNCTION s3({sql_string(url)}, {', '.join(credentials)}, 'Parquet') "
            "SELECT * FROM silver_trades FINAL WHERE trade_time >= {a:DateTime64(6, 'UTC')} "
            "AND trade_time < {b:DateTime64(6, 'UTC')} "
            "SETTINGS output_format_parquet_compression_method = 'zstd', s3_truncate_on_insert = 1",
            parameters={"a": WINDOW_START, "b": WINDOW_START + WINDOW},
        )
    seconds = time.perf_counter() - began
    return {"seconds": seconds}


def _child(mode: str, home: Path, env: dict[str, str]) -> dict[str, float]:
    return run_child(__file__, mode, ["--home", str(home)], env)


def _object_bytes(server: object, bucket: str, prefix: str) -> int:
    pages = server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)  # type: ignore[attr-defined]
    return sum(item["Size"] for page in pages for item in page.get("Contents", []))


def run(rows_list: list[int], out: Path) -> None:
    """Start moto, then per window size: prepare, baseline, offload; print one line each."""
    from coldtier_assets_tests.s3_server import running_s3

    with running_s3(iam=False) as server:
        for rows in rows_list:
            home = (out / f"s3_throughput_{rows}").resolve()
            bucket = server.new_bucket()
            env = {
                **os.environ,
                **server.env(f"s3://{bucket}/warehouse"),
                "COLDTIER_HOME": str(home),
                "DAGSTER_HOME": str(home / "dagster_home"),
            }
            os.environ.update(env)
            prepare(home, rows)
            baseline = _child("baseline", home, env)
            offload = _child("offload", home, env)
            assert offload["rows"] == rows, offload
            base_bytes = _object_bytes(server, bucket, "baseline/")
            cold_bytes = _object_bytes(server, bucket, "warehouse/cold/silver_trades/data/")
            base_rate, off_rate = rows / baseline["seconds"], rows / offload["seconds"]
            print(
                f"{rows:>10,} rows | ClickHouse Parquet to S3 {base_rate:>10,.0f} rows/s ({baseline['seconds']:.1f} s, "
                f"{base_bytes / 2**20:.0f} MiB, RSS {baseline['max_rss_mib']:.0f} MiB) | coldtier offload to S3 "
                f"{off_rate:>10,.0f} rows/s ({offload['seconds']:.1f} s, {offload['files']:.0f} files, "
                f"{cold_bytes / 2**20:.0f} MiB, RSS {offload['max_rss_mib']:.0f} MiB) "
                f"| ratio {off_rate / base_rate:.2f}",
                flush=True,
            )
            shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    """Command line: the parent runs the comparison; ``--child`` runs one side and prints JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 3_000_000])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    parser.add_argument("--child", choices=["baseline", "offload"])
    parser.add_argument("--home", type=Path)
    args = parser.parse_args()
    if args.child:
        figures = child_baseline_s3(args.home) if args.child == "baseline" else child_offload(args.home)
        figures["max_rss_mib"] = peak_rss_mib()
        print(json.dumps(figures))
        return
    machine = f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores"
    print(f"machine: {machine}, Python {platform.python_version()}")
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; command: {' '.join(sys.argv)}")
    run(args.rows, args.out)


if __name__ == "__main__":
    main()
