"""Open file descriptors kept by embedded chDB per session opened and closed (a known leak).

Usage: .venv/bin/python benchmarks/chdb_fd_growth.py [--sessions 100]
Each session reads a small MergeTree table; prints this process's descriptor count
before and after N ``WarmTier`` sessions on a fresh chDB path.
"""

from __future__ import annotations

import argparse
import os
import tempfile

from coldtier_assets.resources.clickhouse import WarmTier


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        warm = WarmTier(f"chdb://{home}/warm")
        warm.command("CREATE TABLE t (n Int64) ENGINE = MergeTree ORDER BY n")
        warm.command("INSERT INTO t SELECT number FROM numbers(1000)")
        before = open_descriptors()
        for _ in range(args.sessions):
            warm.rows("SELECT count() FROM t")  # a query that reads a table (uses reader threads)
        after = open_descriptors()
    per_session = (after - before) / args.sessions
    print(f"{args.sessions} sessions: {before} -> {after} descriptors ({per_session:.1f} per session)")


if __name__ == "__main__":
    main()
