"""The ledger of committed windows as a table property: atomic with the data, migrated on first use.

Real chDB, real pyiceberg catalogs (SQLite and PostgreSQL), real concurrent commits. The Spark
half (Spark's own procedures and a Spark INSERT after a retention drop) is in
``test_ledger_survives_spark.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from coldtier_assets.offload.batch import BatchLimits
from coldtier_assets.offload.bootstrap import init_cold
from coldtier_assets.offload.history_bounds import HISTORY_PROPERTIES, MAX_SNAPSHOTS_KEY
from coldtier_assets.offload.pipeline import Offloader
from coldtier_assets.offload.recorded import recorded_checksums
from coldtier_assets.offload.sink import (
    LEDGER_KEY,
    PREFIX,
    coldtier_property,
    migrate_ledger,
    read_ledger,
)
from coldtier_assets.offload.windows import Ledger, Window
from coldtier_assets.resources.iceberg import open_catalog
from coldtier_assets.simulate.feed import simulate_history
from coldtier_assets_tests.compare import assert_window_matches
from coldtier_assets_tests.maintenance_fixtures import (
    BINANCE,
    FEED_END,
    FEED_START,
    CatalogProxy,
    Coldtier,
    commit_the_old_way,
    feed_windows,
    make_coldtier,
)

HOUR = FEED_START + timedelta(hours=1)


@pytest.fixture
def coldtier(catalog_backend: str, coldtier_env: dict[str, str]) -> Iterator[Coldtier]:
    """An initialized coldtier (SQLite or PostgreSQL catalog) with two hours of trades in ClickHouse."""
    env = make_coldtier(coldtier_env)
    simulate_history(env.warm, FEED_START, FEED_END, seed=9, trades_per_second=2)
    yield env


def metadata_versions(table: Table) -> int:
    """How many metadata files the table's history has (one per catalog commit)."""
    return len(table.metadata.metadata_log) + 1


def test_a_run_of_windows_commits_them_and_the_ledger_in_one_metadata_file(coldtier: Coldtier) -> None:
    env = coldtier
    before = metadata_versions(env.table())
    report = env.offloader().offload(BINANCE, FEED_START, HOUR, run_id="ledger-test")
    table = env.table()
    assert len(report.results) == 4 and report.commits == 1  # four windows, one batch
    assert metadata_versions(table) == before + 1  # data, summaries and ledger: one commit
    assert table.metadata.properties[LEDGER_KEY] == Ledger().add(Window(FEED_START, HOUR)).encode()
    assert recorded_checksums(table, BINANCE.window(env.settings.window)) == {
        result.window.start: (result.rows, result.checksum) for result in report.results
    }  # each window's figures stay known
    for snapshot in table.metadata.snapshots:  # the audit trail stays, without the whole ledger
        assert coldtier_property(snapshot, PREFIX + "window-start") is not None
        assert coldtier_property(snapshot, "coldtier.run-id") == "ledger-test"
        assert coldtier_property(snapshot, LEDGER_KEY) is None


def test_a_table_written_by_the_old_version_migrates_on_first_use_and_survives_expiry(
    coldtier: Coldtier,
) -> None:
    env = coldtier
    env.offloader().offload(BINANCE, FEED_START, FEED_END, run_id="old")
    commit_the_old_way(env, BINANCE, feed_windows()[-1])
    table = env.table()
    assert LEDGER_KEY not in table.metadata.properties
    assert read_ledger(table).ranges == (Window(FEED_START, FEED_END).epoch_range,)  # read from the summary
    current, versions = table.current_snapshot(), metadata_versions(table)

    init_cold(env.catalog, env.settings.namespace)  # the first coldtier touch: `coldtier init`

    table = env.table()
    assert table.metadata.properties[LEDGER_KEY] == Ledger().add(Window(FEED_START, FEED_END)).encode()
    assert metadata_versions(table) == versions + 1 and table.current_snapshot() == current  # property only
    assert not migrate_ledger(env.catalog, env.identifier)  # once
    # A foreign append (no coldtier summary), then every older snapshot expires: windows stay committed.
    table.append(table.scan(limit=0).to_arrow(), snapshot_properties={"writer": "someone-else"})
    table = env.table()
    foreign = table.current_snapshot()
    assert foreign is not None
    table.maintenance.expire_snapshots().by_ids(
        [s.snapshot_id for s in table.metadata.snapshots if s.snapshot_id != foreign.snapshot_id]
    ).commit()
    table = env.table()
    assert len(table.metadata.snapshots) == 1
    assert read_ledger(table).ranges == (Window(FEED_START, FEED_END).epoch_range,)
    assert list(read_ledger(table).missing(feed_windows())) == []


def test_an_offload_on_a_table_written_by_the_old_version_writes_the_whole_ledger(coldtier: Coldtier) -> None:
    env = coldtier
    env.offloader().offload(BINANCE, FEED_START, HOUR, run_id="old")
    commit_the_old_way(env, BINANCE, feed_windows()[0])
    assert LEDGER_KEY not in env.table().metadata.properties
    env.offloader().offload(BINANCE, HOUR, FEED_END, run_id="new")  # the first use: an offload
    assert env.table().metadata.properties[LEDGER_KEY] == Ledger().add(Window(FEED_START, FEED_END)).encode()


def test_the_migration_commit_loses_no_window_committed_concurrently(coldtier: Coldtier) -> None:
    """A property-only commit is not guarded by SqlCatalog by itself: the migration asserts main."""
    env = coldtier
    env.offloader().offload(BINANCE, FEED_START, HOUR, run_id="old")
    commit_the_old_way(env, BINANCE, feed_windows()[0])
    late = Window(HOUR, HOUR + timedelta(minutes=15))

    # SqlCatalog re-applies a property-only update onto whatever is current at commit time:
    stale = env.table()
    env.offloader().offload(BINANCE, late.start, late.end, run_id="concurrent")
    with stale.transaction() as unguarded:
        unguarded.set_properties({"coldtier.test": "stale"})  # lands although the table moved on
    assert env.table().metadata.properties["coldtier.test"] == "stale"
    commit_the_old_way(env, BINANCE, feed_windows()[0])  # back to a summary-only ledger
    assert read_ledger(env.table()).covers(late)

    later = Window(late.end, late.end + timedelta(minutes=15))

    def concurrent_offload() -> None:  # a real second writer, between the migration's read and commit
        env.offloader().offload(BINANCE, later.start, later.end, run_id="concurrent")

    proxy = CatalogProxy(env.catalog, nth=1, action=concurrent_offload)
    assert not migrate_ledger(proxy, env.identifier)  # type: ignore[arg-type]  # conflict, then nothing to do
    ledger = read_ledger(env.table())
    assert ledger.covers(later) and ledger.covers(late) and ledger.covers(Window(FEED_START, HOUR))


def test_a_conflicting_window_commit_recomputes_the_ledger_from_fresh_metadata(coldtier: Coldtier) -> None:
    env = coldtier
    first, second = feed_windows()[0], feed_windows()[1]

    def other_window() -> None:
        env.offloader().offload(BINANCE, second.start, second.end, run_id="other")

    offloader = env.offloader()
    # the run loads the table once and commits against that metadata: stale once the other lands
    proxy_catalog: Catalog = CatalogProxy(env.catalog, nth=1, action=other_window)  # type: ignore[assignment]
    offloader.catalog_factory = lambda: proxy_catalog
    report = offloader.offload(BINANCE, first.start, first.end, run_id="mine")
    assert report.results[0].attempts == 2  # the first attempt lost against the other commit
    assert read_ledger(env.table()).ranges == (Window(first.start, second.end).epoch_range,)


def test_window_commits_give_an_existing_table_its_history_bounds_and_keep_them(coldtier: Coldtier) -> None:
    """A table created without the bounds gains them on its next commit; a lowered bound holds."""
    env = coldtier
    assert not set(HISTORY_PROPERTIES) & set(env.table().metadata.properties)  # as ``init`` created it
    with env.table().transaction() as transaction:  # an operator keeps only three snapshots
        transaction.set_properties({MAX_SNAPSHOTS_KEY: "3"})
    one_per_commit = Offloader(
        env.settings, env.warm, lambda: open_catalog(env.settings), limits=BatchLimits(windows=1)
    )
    report = one_per_commit.offload(BINANCE, FEED_START, FEED_END, run_id="bounded")
    report = one_per_commit.offload(BINANCE, FEED_START, HOUR, run_id="again")  # re-copies delete too
    table = env.table()
    assert report.commits == 4 and len(table.metadata.snapshots) <= 3
    properties = table.metadata.properties
    assert properties[MAX_SNAPSHOTS_KEY] == "3"  # the operator's value wins
    assert properties["commit.manifest-merge.enabled"] == "true"
    assert properties["commit.manifest.target-size-bytes"] == str(256 * 1024)
    assert read_ledger(table).ranges == (Window(FEED_START, FEED_END).epoch_range,)
    assert (
        assert_window_matches(env.warm, env.catalog, env.settings.namespace, BINANCE, FEED_START, FEED_END)
        > 0
    )
