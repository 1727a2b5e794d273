"""A second writer on a cold table: ``python -m benchmarks.soak_harness.foreign TABLE COMMITS SEED``.

It does what another engine may legitimately do to a table it shares with coldtier, as fast as it
can, so its commits race coldtier's (a conflict storm): set a table property of its own, and
rewrite a committed window's data files with the same rows (as a compaction or a copy-on-write
engine would). Each commit asserts the snapshot it read from; a conflict is retried on fresh
metadata, like any well-behaved Iceberg writer. It never changes what the rows are.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, datetime

from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import And, GreaterThanOrEqual, LessThan
from pyiceberg.table import Table, TableProperties

from coldtier_assets.config import load_settings
from coldtier_assets.offload.sink import read_ledger
from coldtier_assets.offload.windows import aligned_windows
from coldtier_assets.resources.iceberg import open_catalog
from coldtier_assets.tables import get_table


def _rewrite_window(table_name: str, rng: random.Random) -> str:
    settings = load_settings()
    spec = get_table(table_name)
    table = open_catalog(settings).load_table((settings.namespace, table_name))
    ledger = read_ledger(table)
    if not ledger.ranges or table.current_snapshot() is None:
        return "nothing committed yet"
    first, last = ledger.ranges[-1]
    begin, end = (datetime.fromtimestamp(value, UTC) for value in (max(first, last - 1800), last))
    windows = aligned_windows(begin, end, spec.window(settings.window))
    window = rng.choice(windows)
    where = And(
        GreaterThanOrEqual(spec.time_column, window.start.isoformat()),  # pyright: ignore[reportCallIssue]
        LessThan(spec.time_column, window.end.isoformat()),  # pyright: ignore[reportCallIssue]
    )
    table = _no_internal_retries(table)
    rows = table.scan(row_filter=where).to_arrow()
    if rows.num_rows == 0:
        return f"{window}: empty, skipped"
    table.overwrite(rows, overwrite_filter=where, snapshot_properties={"foreign.writer": "soak"})
    return f"{window}: {rows.num_rows} rows rewritten"


def _no_internal_retries(table: Table) -> Table:
    """pyiceberg would replay the rewrite (rows read before a concurrent commit) on fresh metadata: retry ourselves."""
    properties = {**table.metadata.properties, TableProperties.COMMIT_NUM_RETRIES: "0"}
    table.metadata = table.metadata.model_copy(update={"properties": properties})
    return table


def _set_property(table_name: str, number: int) -> str:
    settings = load_settings()
    table = open_catalog(settings).load_table((settings.namespace, table_name))
    with table.transaction() as transaction:
        transaction.set_properties({"foreign.touched": str(number)})
    return f"property foreign.touched={number}"


def main() -> None:
    """Commit ``COMMITS`` times; print what each commit did and how many conflicts it retried."""
    table_name, commits, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    for number in range(commits):
        for attempt in range(1, 21):
            try:
                what = _rewrite_window(table_name, rng) if number % 2 else _set_property(table_name, number)
                print(f"{table_name} commit {number}: {what} (attempt {attempt})", flush=True)
                break
            except CommitFailedException as error:
                print(f"{table_name} commit {number}: conflict, retrying ({error})", flush=True)
                time.sleep(rng.uniform(0.05, 0.5))
        time.sleep(rng.uniform(0.0, 0.3))


if __name__ == "__main__":
    main()
