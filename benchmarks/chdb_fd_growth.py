"""Threads and descriptors kept by embedded chDB per connection opened and closed (a known leak).

Usage: .venv/bin/python benchmarks/chdb_fd_growth.py [--sessions 100]
Prints this process's thread and descriptor counts before and after N sessions on a fresh chDB path:
  * ``WarmTier`` with ``linger_seconds=0``: every session opens and closes a connection in-process;
  * ``WarmTier`` with the default linger: back-to-back sessions share one connection;
  * ``IsolatedWarmReader`` (what sensors and the exporter use): each session is a child process.
"""

from __future__ import annotations

import argparse
import os
import tempfile

from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.resources.warm_reader import IsolatedWarmReader, WarmReader


def counts() -> tuple[int, int]:
    """(threads, open descriptors) of this process."""
    return len(os.listdir("/proc/self/task")), len(os.listdir("/proc/self/fd"))


def measure(label: str, reader: WarmReader, sessions: int) -> None:
    """Run ``sessions`` sessions of one table-reading query and print the growth."""
    threads, fds = counts()
    for _ in range(sessions):
        with reader.session():
            reader.rows("SELECT count() FROM t")  # a query that reads a table (uses reader threads)
    after_threads, after_fds = counts()
    print(
        f"{label:<38} {sessions} sessions: threads {threads} -> {after_threads}, descriptors {fds} -> "
        f"{after_fds} ({(after_fds - fds) / sessions:.1f} descriptors per session)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        dsn = f"chdb://{home}/warm"
        setup = WarmTier(dsn)
        setup.command("CREATE TABLE t (n Int64) ENGINE = MergeTree ORDER BY n")
        setup.command("INSERT INTO t SELECT number FROM numbers(1000)")
        setup.close()
        measure("IsolatedWarmReader (child per session)", IsolatedWarmReader(dsn), args.sessions // 4)
        lingering = WarmTier(dsn)
        measure("WarmTier, default linger", lingering, args.sessions)
        lingering.close()
        measure("WarmTier, linger 0 (in-process)", WarmTier(dsn, linger_seconds=0), args.sessions)


if __name__ == "__main__":
    main()
