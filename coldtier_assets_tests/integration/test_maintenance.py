"""Daily maintenance against real chDB and real Iceberg catalogs: compaction, expiry, orphans, audit.

Compaction must keep every row and the ledger, even when a window commit races with it; expiry must
keep the ledger; orphan removal must spare files of a commit in flight. The Dagster job and
its 02:00 UTC schedule run in process.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import dagster as dg
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table, Transaction
from typer.testing import CliRunner

from coldtier_assets.config import Settings
from coldtier_assets.maintenance.audit_log import AuditRow, read_audit_rows, write_audit_row
from coldtier_assets.maintenance.compaction import MAINTENANCE_KEY, compact_table
from coldtier_assets.maintenance.expiry import expire_snapshots
from coldtier_assets.maintenance.orphans import list_table_files, referenced_files, remove_orphan_files
from coldtier_assets.maintenance.policy import MaintenancePolicy
from coldtier_assets.maintenance.runner import (
    TABLE_ACTIONS,
    MaintenanceFailedError,
    raise_for_failures,
    run_maintenance,
)
from coldtier_assets.maintenance.state import live_data_files, table_state
from coldtier_assets.offload.datafiles import DataFileWriter
from coldtier_assets.offload.sink import LEDGER_KEY, coldtier_property, read_ledger
from coldtier_assets.offload.verify import Verdict, verify_windows
from coldtier_assets.offload.windows import Window
from coldtier_assets.resources.iceberg import open_catalog
from coldtier_assets.simulate.feed import simulate_history
from coldtier_assets.tables import get_table
from coldtier_assets_tests.compare import assert_window_matches
from coldtier_assets_tests.maintenance_fixtures import (
    BINANCE,
    FEED_END,
    FEED_START,
    CatalogProxy,
    Coldtier,
    add_late_trades,
    feed_windows,
    make_coldtier,
)

KRAKEN = get_table("bronze_trades_kraken")
HOUR_END = FEED_START + timedelta(hours=1)


@pytest.fixture
def coldtier(catalog_backend: str, coldtier_env: dict[str, str]) -> Coldtier:
    """Eight small windows of Binance trades copied to the cold tier, on SQLite and on PostgreSQL."""
    del catalog_backend  # already applied to coldtier_env
    return _fed(make_coldtier(coldtier_env), FEED_END)


@pytest.fixture
def sqlite_coldtier(coldtier_env: dict[str, str]) -> Coldtier:
    """The same on the embedded SQLite catalog only."""
    return _fed(make_coldtier(coldtier_env), FEED_END)


@pytest.fixture
def four_windows(catalog_backend: str, coldtier_env: dict[str, str]) -> Coldtier:
    """Four copied windows (one hour), on SQLite and on PostgreSQL."""
    del catalog_backend
    return _fed(make_coldtier(coldtier_env), HOUR_END)


@pytest.fixture
def four_sqlite_windows(coldtier_env: dict[str, str]) -> Coldtier:
    """Four copied windows on SQLite."""
    return _fed(make_coldtier(coldtier_env), HOUR_END)


@pytest.fixture
def two_windows(coldtier_env: dict[str, str]) -> Coldtier:
    """Two copied windows (half an hour) on SQLite: the least compaction acts on."""
    return _fed(make_coldtier(coldtier_env), FEED_START + timedelta(minutes=30))


def _fed(env: Coldtier, end: datetime) -> Coldtier:
    simulate_history(env.warm, FEED_START, end, seed=5, trades_per_second=2)
    report = env.offloader().offload(BINANCE, FEED_START, end, run_id="test")
    assert report.files == len(feed_windows(FEED_START, end))
    return env


def _assert_verified(env: Coldtier, end: datetime = FEED_END, stale: Sequence[Window] = ()) -> None:
    """Every window matches the warm tier (counts and checksums, then row by row) but ``stale`` ones.

    A stale window got late trades that were not copied yet: its cold side is still the old copy
    (then only counts and checksums are compared; a later call compares row by row).
    """
    checks = verify_windows(env.settings, env.warm, env.table(), BINANCE, feed_windows(FEED_START, end))
    expected = [Verdict.MISMATCH if check.window in stale else Verdict.MATCH for check in checks]
    assert [check.verdict for check in checks] == expected
    if not stale:
        assert_window_matches(env.warm, env.catalog, env.settings.namespace, BINANCE, FEED_START, end)


def test_maintenance_compacts_small_files_keeps_rows_ledger_and_logs_each_action(coldtier: Coldtier) -> None:
    env = coldtier
    before = table_state(env.table())
    ledger = read_ledger(env.table())

    rows = run_maintenance(env.settings, env.warm, env.catalog, [BINANCE.name])

    assert [(row.action, row.outcome) for row in rows] == [(action, "success") for action in TABLE_ACTIONS]
    after_table = env.table()
    after = table_state(after_table)
    assert after.rows == before.rows and after.files < before.files and after.files == 1
    # the newest snapshot is the compaction; the ledger property is carried forward with the metadata
    current = after_table.current_snapshot()
    assert current is not None and coldtier_property(current, MAINTENANCE_KEY) == "compaction"
    assert after_table.metadata.properties[LEDGER_KEY] == ledger.encode()
    assert read_ledger(after_table) == ledger
    _assert_verified(env)

    logged = {row.action: row for row in read_audit_rows(env.settings.catalog_uri, table_name=BINANCE.name)}
    assert set(logged) == set(TABLE_ACTIONS)
    compact = logged["compact"]
    assert (compact.files_before, compact.files_after) == (8, 1)
    assert compact.rows_before == compact.rows_after == before.rows
    assert logged["audit"].outcome == "success"
    assert logged["audit"].rows_before == logged["audit"].rows_after == before.rows
    assert all(row.id is not None and row.started_at.tzinfo is not None for row in logged.values())

    # a second run finds nothing to compact and changes nothing
    again = run_maintenance(env.settings, env.warm, env.catalog, [BINANCE.name])
    assert [row.outcome for row in again] == ["success"] * 4
    assert "nothing to compact" in again[0].message
    assert table_state(env.table()) == after


def test_expiry_keeps_the_ledger_and_orphan_removal_spares_files_in_flight(
    sqlite_coldtier: Coldtier,
) -> None:
    env = sqlite_coldtier
    ledger = read_ledger(env.table())
    small_files = {file.file_path for file in live_data_files(env.table())}
    compacted = compact_table(env.catalog, env.identifier, sort_columns=(BINANCE.time_column,))
    assert compacted.file_counts == (8, 1)
    # another writer (say Spark) commits on top without a coldtier summary: the ledger (a table
    # property) survives expiry down to that one snapshot
    transaction = env.table().transaction()
    with transaction.update_snapshot(snapshot_properties={"writer": "someone-else"}).fast_append():
        pass
    foreign = transaction.commit_transaction().current_snapshot()
    assert foreign is not None and coldtier_property(foreign, LEDGER_KEY) is None
    snapshots_before = len(env.table().metadata.snapshots)

    result = expire_snapshots(
        env.catalog,
        env.identifier,
        now=datetime.now(UTC) + timedelta(days=8),
        policy=MaintenancePolicy(min_snapshots_to_keep=1),
    )

    table = env.table()
    kept = {snapshot.snapshot_id for snapshot in table.metadata.snapshots}
    assert kept == {foreign.snapshot_id}
    assert len(result.expired) == snapshots_before - 1
    assert read_ledger(table) == ledger and read_ledger(table).watermark == FEED_END
    assert list(read_ledger(table).missing(feed_windows())) == []  # offload planning: nothing to copy
    _assert_verified(env)

    # every stored file is old now, except a data file of a commit in flight, written just now
    location = Path(table.location().removeprefix("file://"))
    old = time.time() - 10 * 86400
    junk = location / "data" / "junk-from-a-crashed-writer.parquet"
    junk.write_bytes(b"PAR1")
    for path in location.rglob("*"):
        if path.is_file():
            os.utime(path, (old, old))
    table = env.table()
    writer = DataFileWriter(table)
    writer.write(table.scan(limit=10).to_arrow())
    (in_flight,) = writer.files
    referenced = referenced_files(table)
    unreferenced = {f.path for f in list_table_files(table)} - referenced

    removed = remove_orphan_files(env.catalog, env.identifier, now=datetime.now(UTC))

    in_flight_path = in_flight.file_path.removeprefix("file://")
    assert in_flight_path in removed.kept_too_young and Path(in_flight_path).exists()
    assert set(removed.removed) == unreferenced - {in_flight_path}
    assert str(junk) in removed.removed and not junk.exists()
    assert {path.removeprefix("file://") for path in small_files} <= set(removed.removed)  # expired files
    assert all(Path(path).exists() for path in referenced)
    _assert_verified(env)  # everything still readable


def test_compaction_racing_a_window_commit_in_either_order_loses_and_doubles_nothing(
    four_windows: Coldtier,
) -> None:
    env = four_windows
    windows = feed_windows(FEED_START, HOUR_END)
    for window in windows[1:]:
        assert add_late_trades(env.warm, BINANCE, window) == 3

    # 1. a window is re-copied (with its late trades) after compaction wrote its file, before it
    #    committed: the compaction conflicts, discards its file and re-plans on fresh metadata
    def window_commit_first(attempt: int) -> None:
        if attempt == 1:
            env.offloader().offload(BINANCE, windows[2].start, windows[2].end, run_id="late")

    result = compact_table(env.catalog, env.identifier, before_commit=window_commit_first)

    assert [partition.attempts for partition in result.partitions] == [2]
    table = env.table()
    assert table_state(table).files == 1
    stray = {f.path for f in list_table_files(table) if "/data/" in f.path} - referenced_files(table)
    assert not stray  # the file written by the conflicting attempt was deleted
    _assert_verified(
        env, HOUR_END, (windows[1], windows[3])
    )  # late trades kept, nothing resurrected or doubled

    # 2. a compaction lands while a window re-copy is between loading the table and committing:
    #    the window commit conflicts and its retry rewrites the compacted file without the window's
    #    old rows. (Offloader loads the table once per run; a conflicting attempt reloads it.)
    env.offloader().offload(BINANCE, windows[1].start, windows[1].end, run_id="late")  # a 2nd small file

    def compact() -> None:
        compacted = compact_table(open_catalog(env.settings), env.identifier)
        assert compacted.file_counts[0] == 2

    proxy = CatalogProxy(open_catalog(env.settings), nth=1, action=compact)
    offloader = env.offloader()
    offloader.catalog_factory = lambda: cast(Catalog, proxy)
    report = offloader.offload(BINANCE, windows[3].start, windows[3].end, run_id="late")

    assert [result.attempts for result in report.results] == [2]
    table = env.table()
    assert [coldtier_property(s, MAINTENANCE_KEY) for s in table.metadata.snapshots].count("compaction") == 2
    assert read_ledger(table).watermark == HOUR_END
    _assert_verified(env, HOUR_END)


def test_compaction_and_window_commits_in_parallel_threads(four_sqlite_windows: Coldtier) -> None:
    env = four_sqlite_windows
    windows = feed_windows(FEED_START, HOUR_END)
    for window in (windows[1], windows[3]):
        add_late_trades(env.warm, BINANCE, window)
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def run(action: object) -> None:
        try:
            start.wait()
            assert callable(action)
            action()
        except BaseException as error:
            errors.append(error)

    actions = [
        lambda: compact_table(open_catalog(env.settings), env.identifier),
        lambda: env.offloader().offload(BINANCE, windows[1].start, windows[1].end, run_id="a"),
        lambda: env.offloader().offload(BINANCE, windows[3].start, windows[3].end, run_id="b"),
    ]
    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    _assert_verified(env, HOUR_END)
    assert read_ledger(env.table()).watermark == HOUR_END


def test_compaction_whose_commit_landed_but_reported_an_error_keeps_its_files(
    two_windows: Coldtier, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = two_windows
    real_commit = Transaction.commit_transaction
    calls: list[int] = []

    def lost_response(self: Transaction) -> Table:
        committed = real_commit(self)
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionResetError("the catalog database went away after committing")
        return committed

    monkeypatch.setattr(Transaction, "commit_transaction", lost_response)
    result = compact_table(env.catalog, env.identifier)
    monkeypatch.undo()

    assert [(p.files_before, p.files_after, p.attempts) for p in result.partitions] == [(2, 1, 1)]
    assert len(calls) == 1  # found on the next attempt, not committed twice
    table = env.table()
    assert all(Path(f.file_path.removeprefix("file://")).exists() for f in live_data_files(table))
    _assert_verified(env, FEED_START + timedelta(minutes=30))


def test_audit_leaves_out_windows_re_copied_during_maintenance(
    two_windows: Coldtier, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = two_windows
    window = feed_windows(FEED_START, FEED_START + timedelta(minutes=30))[1]
    add_late_trades(env.warm, BINANCE, window)
    from coldtier_assets.maintenance import actions  # the pyiceberg engine's calls

    real_expire = actions.expire_snapshots

    def window_commit_during_maintenance(*args: object, **kwargs: object) -> object:
        env.offloader().offload(BINANCE, window.start, window.end, run_id="late")
        return real_expire(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(actions, "expire_snapshots", window_commit_during_maintenance)
    rows = run_maintenance(env.settings, env.warm, env.catalog, [BINANCE.name])

    assert [row.outcome for row in rows] == ["success"] * 4
    audit = rows[-1]
    assert "unchanged outside 1 re-committed window(s)" in audit.message
    assert audit.rows_before == audit.rows_after  # the rows of the other window
    _assert_verified(env, FEED_START + timedelta(minutes=30))


def test_a_failed_action_is_logged_and_the_next_table_still_runs(
    two_windows: Coldtier, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = two_windows
    env.offloader().offload(KRAKEN, FEED_START, FEED_START + timedelta(minutes=30), run_id="test")
    from coldtier_assets.maintenance import actions  # the pyiceberg engine's calls

    real_compact, real_orphans = actions.compact_table, actions.remove_orphan_files

    def failing_compact(
        catalog: Catalog, identifier: tuple[str, str], *args: object, **kwargs: object
    ) -> object:
        if identifier[1] == BINANCE.name:
            raise RuntimeError("disk full")
        return real_compact(catalog, identifier, *args, **kwargs)  # type: ignore[arg-type]

    def sabotaging_orphans(
        catalog: Catalog, identifier: tuple[str, str], *args: object, **kwargs: object
    ) -> object:
        table = catalog.load_table(identifier)
        table.io.delete(live_data_files(table)[0].file_path)  # a referenced file disappears
        return real_orphans(catalog, identifier, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(actions, "compact_table", failing_compact)
    monkeypatch.setattr(actions, "remove_orphan_files", sabotaging_orphans)

    rows = run_maintenance(env.settings, env.warm, env.catalog, [BINANCE.name, KRAKEN.name])

    outcomes = [(row.table_name, row.action, row.outcome) for row in rows]
    assert outcomes == [
        (BINANCE.name, "compact", "failed"),
        (BINANCE.name, "expire_snapshots", "skipped"),
        (BINANCE.name, "remove_orphans", "skipped"),
        (BINANCE.name, "audit", "skipped"),
        (KRAKEN.name, "compact", "success"),
        (KRAKEN.name, "expire_snapshots", "success"),
        (KRAKEN.name, "remove_orphans", "success"),
        (KRAKEN.name, "audit", "failed"),  # the audit notices the missing file
    ]
    assert "disk full" in rows[0].message
    with pytest.raises(MaintenanceFailedError, match="disk full"):
        raise_for_failures(rows)
    logged = read_audit_rows(env.settings.catalog_uri, limit=8)
    assert [(row.table_name, row.action, row.outcome) for row in reversed(logged)] == outcomes


def test_audit_log_round_trip_and_validation(settings: Settings) -> None:
    uri = settings.catalog_uri
    Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    started = datetime(2026, 11, 25, 2, 0, 5, tzinfo=UTC)
    written = write_audit_row(
        uri,
        AuditRow(
            table_name="silver_trades",
            action="retention",
            started_at=started,
            duration_seconds=1.5,
            outcome="skipped",
            message="kept",
            rows_before=10,
            rows_after=10,
        ),
    )
    assert written.id is not None
    (read,) = read_audit_rows(uri, action="retention", since=started - timedelta(seconds=1))
    assert read == written and read.started_at == started
    assert read_audit_rows(uri, since=started + timedelta(seconds=1)) == []
    with pytest.raises(ValueError, match="unknown maintenance action"):
        AuditRow("t", "vacuum", started, 0.0, "success")  # type: ignore[arg-type]


def test_maintenance_job_in_process_its_daily_schedule_and_the_cli(two_windows: Coldtier) -> None:
    from coldtier_assets.cli.main import app
    from coldtier_assets.definitions import build_definitions

    env = two_windows
    defs = build_definitions(env.settings)  # includes build_maintenance_definitions(settings)
    job = defs.resolve_job_def("maintenance")
    config = {"ops": {"maintain_cold_tables": {"config": {"tables": [BINANCE.name]}}}}
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(run_config=config, instance=instance)
        assert result.success
        assert result.output_for_node("maintain_cold_tables") == 4
        failing = job.execute_in_process(
            run_config={"ops": {"maintain_cold_tables": {"config": {"tables": ["nope"]}}}},
            instance=instance,
            raise_on_error=False,
        )
        assert not failing.success
    assert table_state(env.table()).files == 1
    logged = read_audit_rows(env.settings.catalog_uri, table_name=BINANCE.name)
    assert {row.action for row in logged} == set(TABLE_ACTIONS)

    schedule = defs.resolve_schedule_def("maintenance_daily")
    assert schedule.cron_schedule == "0 2 * * *" and schedule.execution_timezone == "UTC"
    assert schedule.job_name == "maintenance"
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 25, 2, 0, tzinfo=UTC))
    tick = schedule.evaluate_tick(context)
    assert tick.run_requests is not None and len(tick.run_requests) == 1
    dg.validate_run_config(job, tick.run_requests[0].run_config)

    # the same through the command line (`coldtier maintain`, `coldtier retention`)
    runner = CliRunner()
    done = runner.invoke(app, ["maintain", "--table", BINANCE.name])
    assert done.exit_code == 0, done.output
    assert "expire_snapshots" in done.output and "success" in done.output and "failed" not in done.output
    unknown = runner.invoke(app, ["maintain", "--table", "nope"])
    assert unknown.exit_code == 2
    nothing = runner.invoke(app, ["retention", "--days", "3650", "--dry-run"])
    assert nothing.exit_code == 0, nothing.output
    assert "nothing to do" in nothing.output
    assert runner.invoke(app, ["retention", "--days", "0"]).exit_code == 2
